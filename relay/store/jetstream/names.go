package jetstream

import (
	"encoding/hex"
	"strconv"
	"strings"

	"veil/relay/store"
)

// names holds every stream, bucket and subject name derived from the
// prefix (spec/relay-jetstream.md §2).
type names struct {
	prefix       string
	msgStream    string // the unsharded message stream of earlier releases, §3.6
	msgSubjects  string
	logStream    string // group log entries, §5
	logSubjects  string
	boxBucket    string // mailbox records by recipient ID, §4.1
	senderBucket string // sender ID → recipient ID, §4.1
	logBucket    string // log records, §5.1
	blobBucket   string // one-time blobs, §6
	claimBucket  string // live-subscriber claims, §7
	chunkBucket  string // file chunks, §6.3
}

func newNames(p string) names {
	up := strings.ToUpper(p)
	return names{
		prefix:       p,
		msgStream:    up + "_MSG",
		msgSubjects:  p + ".m.*",
		logStream:    up + "_LOG",
		logSubjects:  p + ".l.*",
		boxBucket:    p + "_box",
		senderBucket: p + "_sender",
		logBucket:    p + "_log",
		blobBucket:   p + "_blob",
		claimBucket:  p + "_sub",
		chunkBucket:  p + "_chunk",
	}
}

// key is the subject token of an ID: lower-case hex (§2).
func key(id store.ID) string { return hex.EncodeToString(id[:]) }

// parseKey is key's inverse; false for anything key would not produce.
func parseKey(s string) (store.ID, bool) {
	var id store.ID
	if len(s) != 2*store.IDSize || strings.ToLower(s) != s {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, true
}

// shardStream and shardSubjects name message shard k (§3.1).
func (n names) shardStream(k int) string   { return n.msgStream + "_" + strconv.Itoa(k) }
func (n names) shardSubjects(k int) string { return n.prefix + ".m." + strconv.Itoa(k) + ".*" }

// msgSubject is the subject of rid's messages in shard k (§3.1).
func (n names) msgSubject(k int, rid store.ID) string {
	return n.prefix + ".m." + strconv.Itoa(k) + "." + key(rid)
}

// legacySubject is rid's subject in the unsharded stream (§3.6).
func (n names) legacySubject(rid store.ID) string { return n.prefix + ".m." + key(rid) }

func (n names) logSubject(id store.ID) string       { return n.prefix + ".l." + key(id) }
func (n names) notifySubject(rid store.ID) string   { return n.prefix + ".n." + key(rid) }
func (n names) logNotifySubject(id store.ID) string { return n.prefix + ".ln." + key(id) }

// leaseSubject is the expiry lease's key in the claims bucket (§8); it is
// not an ID, so the claim watcher ignores it.
func (n names) leaseSubject() string { return "$KV." + n.claimBucket + ".expire-lease" }

// kvStream and kvSubjects follow the layout of NATS KV buckets, so the
// buckets can be inspected with the standard tools (§4).
func kvStream(bucket string) string   { return "KV_" + bucket }
func kvSubjects(bucket string) string { return "$KV." + bucket + ".>" }
func kvSubject(bucket string, id store.ID) string {
	return "$KV." + bucket + "." + key(id)
}

// lastToken returns the ID in the last token of a subject.
func lastToken(subject string) (store.ID, bool) {
	i := strings.LastIndexByte(subject, '.')
	return parseKey(subject[i+1:])
}
