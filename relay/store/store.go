// Package store defines the storage interface behind the relay and the
// errors every implementation returns. Implementations live in
// subpackages: badger (the embedded default), memory (tests), and later
// jetstream (scale-out). One conformance suite (storetest) runs against
// all of them.
//
// A store holds only what spec/relay.md §9 says the relay may hold: opaque
// blocks, random IDs, public keys and hashes of capabilities. It never
// sees an address, a plaintext or a time finer than the TTL needs.
package store

import (
	"context"
	"errors"
	"time"
)

// IDSize is the size of every identifier the relay hands out.
const IDSize = 24

// ID is a mailbox, log or blob identifier.
type ID = [IDSize]byte

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("store: not found")
	ErrExists         = errors.New("store: already exists")
	ErrQuota          = errors.New("store: quota exceeded")
	ErrDiskQuota      = errors.New("store: relay storage full")
	ErrAlreadySecured = errors.New("store: mailbox already secured")
	ErrClosed         = errors.New("store: closed")
)

// Mailbox is the metadata of one mailbox (queue). The relay stores the
// recipient's Ed25519 public key and, once secured, the sender's
// credential (a hash or public key, opaque to the store).
type Mailbox struct {
	RecipientID  ID
	SenderID     ID
	RecipientKey [32]byte  // Ed25519 public key that signs recipient commands
	SenderKey    []byte    // set once by Secure; empty while unsecured
	Created      time.Time // kept at day granularity (UTC midnight)
	LastActive   time.Time // day granularity, updated at most once per day by Send, Pending, Ack and Secure, to keep no timeline
}

// Message is one stored block in a mailbox.
type Message struct {
	Seq     uint64 // per-mailbox, strictly increasing, never reused
	Body    []byte
	Expires time.Time
}

// Log is the metadata of one group log (architecture §2). The caps are
// hashes of the write and read capabilities, compared by the relay in
// constant time.
type Log struct {
	ID       ID
	WriteCap [32]byte
	ReadCap  [32]byte
	TTL      time.Duration
	Created  time.Time
}

// Entry is one record of a log.
type Entry struct {
	Seq     uint64 // per-log, strictly increasing from 1
	Body    []byte
	Expires time.Time
}

// Chunk is one file chunk (spec/relay.md §7.7). ReadCap and DelCap are
// SHA-256 of the read and delete capabilities, compared by the relay in
// constant time; Body is opaque ciphertext.
type Chunk struct {
	ReadCap [32]byte
	DelCap  [32]byte
	Body    []byte
	Expires time.Time
}

// ChunkStore stores file chunks (spec/relay.md §7.7); it is part of
// Store. Expire also drops chunks past their deadline, and Size counts
// chunks as well.
type ChunkStore interface {
	// PutChunk stores c under id, durably; ErrExists if id holds a chunk
	// whose deadline has not passed, ErrDiskQuota when the chunk bodies
	// would then exceed maxBytes (0: no limit of their own) or the store
	// is over its size limit.
	PutChunk(ctx context.Context, id ID, c Chunk, maxBytes int64) error
	// GetChunk returns the chunk; ErrNotFound for an unknown ID or one
	// past its deadline, whether or not Expire has run. The body is the
	// caller's to keep.
	GetChunk(ctx context.Context, id ID) (Chunk, error)
	// DeleteChunk removes the chunk, durably; ErrNotFound as GetChunk.
	DeleteChunk(ctx context.Context, id ID) error
	// ChunkBytes returns the bytes of the chunk bodies stored.
	ChunkBytes() int64
}

// Store is the relay's storage. Every method is safe for concurrent use.
// Methods that write (CreateMailbox, Secure, Send, Ack, DeleteMailbox,
// PutBlob, TakeBlob, CreateLog, Append) return only after the change is
// durable: a process killed afterwards keeps it.
type Store interface {
	ChunkStore

	// CreateMailbox stores a new mailbox; ErrExists if either ID is taken.
	CreateMailbox(ctx context.Context, m Mailbox) error
	// Mailbox returns the mailbox with recipient ID rid.
	Mailbox(ctx context.Context, rid ID) (Mailbox, error)
	// MailboxBySender returns the mailbox with sender ID sid.
	MailboxBySender(ctx context.Context, sid ID) (Mailbox, error)
	// Secure sets the sender credential once; ErrAlreadySecured afterwards.
	Secure(ctx context.Context, sid ID, senderKey []byte) error
	// DeleteMailbox removes the mailbox and every message in it.
	DeleteMailbox(ctx context.Context, rid ID) error

	// Send appends body to the mailbox with sender ID sid. It fails with
	// ErrQuota when maxPending messages are already waiting, and with
	// ErrDiskQuota when the store is over its size limit.
	Send(ctx context.Context, sid ID, body []byte, ttl time.Duration, maxPending int) (seq uint64, err error)
	// Pending returns up to limit unexpired messages with Seq > after, in
	// order; the bodies are the caller's to keep.
	Pending(ctx context.Context, rid ID, after uint64, limit int) ([]Message, error)
	// Ack deletes message seq; ErrNotFound if it is not there (already acked).
	Ack(ctx context.Context, rid ID, seq uint64) error
	// Notify returns a channel that receives a value (without blocking the
	// sender: the channel has a buffer of one) whenever a message is sent
	// to rid, and a function that stops the notifications. Across relay
	// nodes (jetstream) the notification crosses the cluster.
	Notify(rid ID) (<-chan struct{}, func())

	// PutBlob stores a one-time blob until deadline; ErrExists if id is
	// held by a blob whose deadline has not passed, or was held by one
	// that TakeBlob took before its deadline (the ID stays reserved until
	// that deadline, spec/relay.md §7.2). A blob past its deadline is not
	// found, whether or not Expire has run.
	PutBlob(ctx context.Context, id ID, body []byte, deadline time.Time) error
	// TakeBlob returns and deletes the blob atomically: of any number of
	// concurrent callers exactly one gets it, the others ErrNotFound. In
	// the same step it leaves a reservation of the ID (the ID and the
	// blob's deadline, no body), so the taken blob cannot be put back
	// before its deadline; a TakeBlob of a reserved ID is ErrNotFound.
	TakeBlob(ctx context.Context, id ID) ([]byte, error)

	// CreateLog stores a new log; ErrExists if the ID is taken.
	CreateLog(ctx context.Context, l Log) error
	// LogInfo returns a log's metadata.
	LogInfo(ctx context.Context, id ID) (Log, error)
	// Append adds an entry to a log and returns its sequence number.
	Append(ctx context.Context, id ID, body []byte) (seq uint64, err error)
	// ReadLog returns up to limit unexpired entries with Seq > after.
	ReadLog(ctx context.Context, id ID, after uint64, limit int) ([]Entry, error)
	// DeleteLog removes a log and its entries.
	DeleteLog(ctx context.Context, id ID) error

	// Expire removes expired messages, entries, blobs, reservations of
	// taken blob IDs and mailboxes idle since before idleBefore; the relay
	// calls it periodically.
	Expire(ctx context.Context, now, idleBefore time.Time) error
	// Size returns the approximate bytes the store occupies.
	Size() int64
	// Close releases the store; later calls return ErrClosed.
	Close() error
}

// AsyncWriter is implemented by a store whose writes are made by a
// goroutine of its own (badger): SendAsync and AckAsync are Send and Ack
// without a goroutine waiting on each. They hand the write over and
// return; done runs exactly once, when the write is durable or has
// failed, with what Send or Ack would have returned. done runs on the
// store's writer goroutine (or on the caller's, before the call returns,
// when the write is refused at once), so it must not block and must not
// call the store; the writer answers nothing else while it runs. The
// call itself may wait while the writer is behind.
type AsyncWriter interface {
	SendAsync(sid ID, body []byte, ttl time.Duration, maxPending int, done func(seq uint64, err error))
	AckAsync(rid ID, seq uint64, done func(err error))
}

// Claimer is implemented by stores that several relay nodes share
// (jetstream). A relay claims a mailbox when a SUB makes a connection its
// live subscriber; a later claim of the same mailbox on any node ends the
// earlier one, which extends "one live subscriber per mailbox" to the
// whole cluster. A store that one relay process owns (badger, memory)
// does not implement it: the relay's own table is enough there.
type Claimer interface {
	// Claim makes the caller the live subscriber of rid across every node
	// sharing the store. The returned channel is closed when a later Claim
	// of rid, on any node, takes over (or the store closes); release gives
	// the claim up and must be called once when the subscription ends.
	Claim(ctx context.Context, rid ID) (lost <-chan struct{}, release func(), err error)
}

// LogNotifier is implemented by stores that several relay nodes share
// (jetstream), so that an append through one node reaches the log
// subscribers of every other node (spec/relay.md §8.7). A store that one
// relay process owns (badger, memory) does not implement it: the relay
// sees every append itself.
type LogNotifier interface {
	// NotifyLog returns a channel that receives the number of an entry
	// appended to log id, through any node, and a function that stops
	// the notifications. The channel has a buffer of one and never
	// blocks the sender: an unread number is replaced by a larger one.
	// A value of 0 means that entries may have been appended whose
	// numbers were not seen (the node's link to the cluster was down).
	// Notifications are at most once.
	NotifyLog(id ID) (<-chan uint64, func())
}
