package client

import (
	"encoding/binary"
	"time"

	"veil/crypto"
	"veil/vault"
)

// fileMeta is what a file message keeps in its sealed Meta
// (spec/client.md §5.16): the file secret S, the local key L_f of its
// blob, and what the descriptor said. Deleting the message's key erases
// both keys, and with them the blob's and the relay's copies.
type fileMeta struct {
	Secret  []byte `json:"s,omitempty"`  // S (secret); none for a refused file
	Local   []byte `json:"l,omitempty"`  // L_f (secret)
	Slot    uint8  `json:"sl,omitempty"` // the relay slot the chunks are on
	Size    int64  `json:"n"`
	Chunks  uint32 `json:"c,omitempty"`
	SHA256  []byte `json:"h,omitempty"`
	Expires int64  `json:"e,omitempty"` // the chunks' relay deadline, Unix s
	Type    string `json:"ty,omitempty"`
	Name    string `json:"na"`
	State   string `json:"st"`
	Err     string `json:"er,omitempty"`
	Relay   string `json:"rl,omitempty"` // ours: the relay the chunks went to
	Done    uint32 `json:"d,omitempty"`  // chunks transferred, for display
	TTL     uint32 `json:"tt,omitempty"` // ours: the message's timer (s), for the envelope
	Auto    int64  `json:"au,omitempty"` // theirs, auto-downloaded: the start of the budget window it counts in (Unix s)
}

func (f *fileMeta) secret() (crypto.FileSecret, bool) {
	var s crypto.FileSecret
	if len(f.Secret) != len(s) {
		return s, false
	}
	copy(s[:], f.Secret)
	return s, true
}

func (f *fileMeta) localKey() (crypto.LocalFileKey, bool) {
	var k crypto.LocalFileKey
	if len(f.Local) != len(k) {
		return k, false
	}
	copy(k[:], f.Local)
	return k, true
}

// blobAD binds a blob's chunks to their chat and message, as messageAD
// binds a message's body (spec/vault.md §6.1).
func blobAD(chat, msgID string) []byte {
	ad := []byte("veil/vault/file/v1")
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(chat)))
	ad = append(ad, chat...)
	return append(ad, msgID...)
}

// chunkLifeQuanta are the lifetimes a chunk may be given: always one of
// these, rounded up, so the relay learns nothing finer (spec/client.md
// §7.8).
var chunkLifeQuanta = [...]time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}

// maxChunkLife is the relay's MaxChunkLife (spec/relay.md §11).
const maxChunkLife = 7 * 24 * time.Hour

// chunkLife is the lifetime for chunks that must live d: the smallest
// quantum at least d, at most maxChunkLife; d ≤ 0 means the longest.
func chunkLife(d time.Duration) time.Duration {
	if d <= 0 {
		return maxChunkLife
	}
	for _, q := range chunkLifeQuanta {
		if d <= q {
			return q
		}
	}
	return maxChunkLife
}

// transferID names a message's transfer record.
func transferID(chat, msgID string) string { return chat + "/" + msgID }

// fileOf returns the file data of m, if it is a file message.
func fileOf(m *vault.Message) (*fileMeta, msgMeta) {
	mm := metaOf(m)
	return mm.File, mm
}

// fileChunkPlain is the plaintext bytes of one chunk.
const fileChunkPlain = crypto.FileChunkPlain
