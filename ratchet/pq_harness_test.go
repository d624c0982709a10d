package ratchet

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"veil/crypto"
)

// What the KEM ratchet tests share (spec/session.md §14): recorded
// randomness, handshakes of either bundle version, scripted conversations.

// drawLog is a tee on a source of randomness: every Read is recorded, so a
// test can hand the bytes to someone else (the quantum thief of §14.6) or
// recompute a key from its seed.
type drawLog struct {
	r     io.Reader
	reads [][]byte
}

func (d *drawLog) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.reads = append(d.reads, bytes.Clone(p[:n]))
	return n, err
}

// take returns the bytes read since the last take, concatenated.
func (d *drawLog) take() []byte {
	out := bytes.Join(d.reads, nil)
	d.reads = nil
	return out
}

// replayReader hands out bytes a test loaded into it and fails once they
// run out, so a draw the recorded side did not make cannot succeed.
type replayReader struct{ buf []byte }

func (r *replayReader) Read(p []byte) (int, error) {
	if len(r.buf) < len(p) {
		return 0, errors.New("replay: no recorded draw left")
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// chacha returns a deterministic ChaCha8 source from seed.
func chacha(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	s[31] = 0xd5 // apart from seeded's streams
	return rand.NewChaCha8(s)
}

// pqSide is one party of a test conversation with its recorded draws: Rand
// (nonces and KEM seeds) and dhRand (X25519 ratchet keys) are separate tees.
type pqSide struct {
	s    *Session
	cfg  Config
	rand *drawLog
	dh   *drawLog
	// handshake holds the Rand draws of Initiate or Respond.
	handshake [][]byte
}

// newPQSide returns a side whose Rand and dhRand are tees on independent
// deterministic streams.
func newPQSide(seed uint64) *pqSide {
	cfg, _ := seeded(seed)
	p := &pqSide{rand: &drawLog{r: cfg.Rand}, dh: &drawLog{r: chacha(seed)}}
	cfg.Rand = p.rand
	cfg.dhRand = p.dh
	p.cfg = cfg
	return p
}

// pqPairVersion runs a handshake on a bundle of the given version (2: the
// KEM ratchet is on from the start; 1: a legacy session) and returns the
// joiner and the inviter after the joiner's first (initial) message was
// received. Their draw logs are emptied.
func pqPairVersion(t testing.TB, seed uint64, version int) (a, b *pqSide) {
	t.Helper()
	a, b = newPQSide(seed), newPQSide(seed+1<<32)
	var bp *BundlePrivate
	var err error
	if version == 1 {
		bp, err = newBundleVersion(b.cfg, 1)
	} else {
		bp, err = newBundleVersion(b.cfg, bundleVersionPQ)
	}
	if err != nil {
		t.Fatal(err)
	}
	bun, err := ParseBundle(bp.Bundle().Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if a.s, err = Initiate(a.cfg, bun); err != nil {
		t.Fatal(err)
	}
	a.handshake, a.rand.reads = a.rand.reads, nil
	m0 := mustEncrypt(t, a.s, "hello")
	b.rand.reads = nil
	var pt []byte
	if b.s, pt, err = Respond(b.cfg, bp, m0); err != nil {
		t.Fatal(err)
	}
	b.handshake = b.rand.reads
	if string(pt) != "hello" {
		t.Fatalf("first message: got %q", pt)
	}
	for _, p := range []*pqSide{a, b} {
		p.rand.take()
		p.dh.take()
	}
	return a, b
}

// textOf returns a plaintext of exactly n bytes that names its message.
func textOf(id, n int) []byte {
	pt := bytes.Repeat([]byte{'.'}, n)
	for i := 0; i < n && i < 8; i++ {
		pt[i] = byte('0' + (id>>(3*i))&7)
	}
	return pt
}

// TEXT envelope and RECEIPT sizes (spec/client.md §5.7): a text of t bytes
// is a plaintext of textEnvelope + t bytes, a receipt for one message is
// receiptSize bytes.
const (
	textEnvelope = 22
	receiptSize  = 20
)

// pqEvent is one message of a scripted conversation, delivered at once.
type pqEvent struct {
	fromA bool
	msg   []byte
	pt    []byte
	dh    []byte // the receiver's X25519 ratchet draws while decrypting it
}

// pqConv is a reliable, in-order conversation between a joiner a and an
// inviter b. Each message is delivered as soon as it is sent; onDeliver, if
// set, sees each one after its receiver decrypted it.
type pqConv struct {
	t         testing.TB
	a, b      *pqSide
	sent      int // messages so far
	sentBy    [2]int
	onDeliver func(e pqEvent)
}

// send has the joiner (fromA) or the inviter send a plaintext of n bytes,
// delivers it, and returns it.
func (c *pqConv) send(fromA bool, n int) pqEvent {
	c.t.Helper()
	from, to := c.a, c.b
	if !fromA {
		from, to = c.b, c.a
	}
	pt := textOf(c.sent, n)
	m, err := from.s.Encrypt(pt)
	if err != nil {
		c.t.Fatalf("message %d: encrypt: %v", c.sent, err)
	}
	if want := crypto.BucketFor(n + 1 + overheadOf(from.s)); len(m) != want {
		c.t.Fatalf("message %d of %d bytes is %d bytes on the wire, want %d", c.sent, n, len(m), want)
	}
	to.dh.take()
	got, err := to.s.Decrypt(m)
	if err != nil {
		c.t.Fatalf("message %d: decrypt: %v", c.sent, err)
	}
	if !bytes.Equal(got, pt) {
		c.t.Fatalf("message %d: wrong plaintext", c.sent)
	}
	e := pqEvent{fromA: fromA, msg: m, pt: pt, dh: to.dh.take()}
	c.sent++
	if fromA {
		c.sentBy[0]++
	} else {
		c.sentBy[1]++
	}
	if c.onDeliver != nil {
		c.onDeliver(e)
	}
	return e
}

// overheadOf is the bytes around a plaintext in s's next message.
func overheadOf(s *Session) int {
	if s.AwaitingReply() {
		return initialOverhead
	}
	return messageOverhead
}

// pattern names who talks in a conversation: balanced alternation, or one
// side sending bursts the other answers with one short message each.
type pattern int

const (
	balanced pattern = iota
	aTalks
	bTalks
)

func (p pattern) String() string {
	return [...]string{"balanced", "a-talks", "b-talks"}[p]
}

// burst is how many messages the talking side sends per reply in aTalks
// and bTalks.
const burst = 4

// step sends message i of the pattern: texts of textLen bytes, replies of
// the quiet side receiptSize bytes.
func (c *pqConv) step(p pattern, i, textLen int) pqEvent {
	c.t.Helper()
	// The inviter speaks first: the joiner's messages stay initial ones
	// until it has heard from the inviter (spec/session.md §5.3).
	switch p {
	case balanced:
		return c.send(i%2 == 1, textLen)
	case aTalks:
		if i%(burst+1) == 0 {
			return c.send(false, receiptSize)
		}
		return c.send(true, textLen)
	default:
		if i%(burst+1) == burst {
			return c.send(true, receiptSize)
		}
		return c.send(false, textLen)
	}
}

// epochs returns both sides' completed epochs.
func (c *pqConv) epochs() (a, b uint32) { return c.a.s.PQ().Epochs, c.b.s.PQ().Epochs }

// bothDone reports whether both sides completed at least e epochs.
func (c *pqConv) bothDone(e uint32) bool {
	a, b := c.epochs()
	return a >= e && b >= e
}
