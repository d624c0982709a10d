package ratchet

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"veil/crypto"
)

// pqUnitPair runs a handshake on a bundle of version 0x02 and returns the
// joiner and the inviter after the joiner's first message.
func pqUnitPair(t *testing.T, seed uint64) (alice, bob *Session) {
	t.Helper()
	cfgA, _ := seeded(seed)
	cfgB, _ := seeded(seed + 1<<32)
	bp, err := newBundleVersion(cfgB, bundleVersionPQ)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBundle(bp.Bundle().Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !b.PQ() {
		t.Fatal("bundle of version 0x02 reads as off")
	}
	alice, err = Initiate(cfgA, b)
	if err != nil {
		t.Fatal(err)
	}
	bob, pt, err := Respond(cfgB, bp, mustEncrypt(t, alice, "hello bob"))
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello bob" {
		t.Fatalf("first message: got %q", pt)
	}
	return alice, bob
}

func wantPhase(t *testing.T, who string, s *Session, phase string, epochs uint32) {
	t.Helper()
	st := s.PQ()
	if !st.On || st.Phase != phase || st.Epochs != epochs {
		t.Fatalf("%s: %+v, want phase %s after %d epochs", who, st, phase, epochs)
	}
}

// TestPQBalancedEpochs walks a strictly alternating conversation of short
// messages through epochs 1 (joiner's ek) and 2 (inviter's ek), phase by
// phase.
func TestPQBalancedEpochs(t *testing.T) {
	alice, bob := pqUnitPair(t, 700)
	// The initial message carried the whole ek: bob encapsulated at once.
	wantPhase(t, "alice", alice, "send-ek", 0)
	wantPhase(t, "bob", bob, "send-ct", 0)
	if alice.pq.epoch != 1 || bob.pq.epoch != 1 {
		t.Fatal("not in epoch 1")
	}
	text := string(bytes.Repeat([]byte{'x'}, 100))
	// Bob's first reply: 24 ct chunks, alice still short of 34.
	mustDecrypt(t, alice, mustEncrypt(t, bob, text), text)
	wantPhase(t, "alice", alice, "send-ek", 0)
	// Alice answers (a DH step at bob; bob's trial picks the plain chain).
	mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	wantPhase(t, "bob", bob, "send-ct", 0)
	// Bob's second reply completes the ct: alice decapsulates and mixes E
	// into the sending chain this step creates.
	mustDecrypt(t, alice, mustEncrypt(t, bob, text), text)
	wantPhase(t, "alice", alice, "recv-ek", 1)
	if alice.pq.epoch != 2 {
		t.Fatalf("alice in epoch %d", alice.pq.epoch)
	}
	// Alice's next message is on the mixed chain: bob's trial confirms.
	mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	wantPhase(t, "bob", bob, "send-ek", 1)
	// Epoch 2: bob sends ek, alice encapsulates, bob mixes, alice confirms.
	for i := 0; bob.PQ().Epochs < 2 || alice.PQ().Epochs < 2; i++ {
		if i > 10 {
			t.Fatalf("epoch 2 did not complete: alice %+v, bob %+v", alice.PQ(), bob.PQ())
		}
		mustDecrypt(t, alice, mustEncrypt(t, bob, text), text)
		mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	}
	if alice.pq.epoch < 3 || bob.pq.epoch < 3 {
		t.Fatal("epoch 3 did not begin")
	}
}

// drawCounter records the size of every read from a source of randomness
// and fails every read after the first failAfter ones (never if negative).
type drawCounter struct {
	r         io.Reader
	sizes     []int
	failAfter int
}

func (d *drawCounter) Read(p []byte) (int, error) {
	if d.failAfter >= 0 && len(d.sizes) >= d.failAfter {
		return 0, errors.New("no randomness")
	}
	d.sizes = append(d.sizes, len(p))
	return d.r.Read(p)
}

// counted replaces s's randomness with a counter on it.
func counted(s *Session, failAfter int) *drawCounter {
	cfg := s.cfg
	if d, ok := cfg.Rand.(*drawCounter); ok {
		cfg.Rand = d.r
	}
	d := &drawCounter{r: crypto.Reader(cfg.Rand), failAfter: failAfter}
	cfg.Rand = d
	s.SetConfig(cfg)
	return d
}

func wantDraws(t *testing.T, what string, d *drawCounter, want ...int) {
	t.Helper()
	if !slices.Equal(d.sizes, want) {
		t.Fatalf("%s drew %v, want %v", what, d.sizes, want)
	}
	d.sizes = nil
}

// longText is a plaintext that moves a message to the 4 KiB bucket, where
// a whole ek (37 chunks) fits beside it.
var longText = string(bytes.Repeat([]byte{'l'}, 1000))

// legacyPair is a pair from a bundle of version 0x01 that has exchanged a
// message each way: both sides off.
func legacyPair(t testing.TB, seed uint64) (alice, bob *Session) {
	t.Helper()
	cfgA, _ := seeded(seed)
	cfgB, _ := seeded(seed + 1<<32)
	bp, err := newBundleVersion(cfgB, bundleVersion1)
	if err != nil {
		t.Fatal(err)
	}
	if alice, err = Initiate(cfgA, bp.Bundle()); err != nil {
		t.Fatal(err)
	}
	if bob, _, err = Respond(cfgB, bp, mustEncrypt(t, alice, "hi")); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, alice, mustEncrypt(t, bob, "hi"), "hi")
	if alice.PQ().On || bob.PQ().On || alice.PQ().Phase != "off" {
		t.Fatal("a session from a bundle of version 0x01 is on")
	}
	return alice, bob
}

func TestPQDrawOrder(t *testing.T) {
	cfgA, _ := seeded(710)
	cfgB, _ := seeded(711)
	bp, err := newBundleVersion(cfgB, bundleVersionPQ)
	if err != nil {
		t.Fatal(err)
	}
	da := &drawCounter{r: cfgA.Rand, failAfter: -1}
	cfgA.Rand = da
	alice, err := Initiate(cfgA, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	// IKsig, IKdh, EK, ML-KEM-1024 m, DHs; then the keygen seed.
	wantDraws(t, "Initiate", da, 32, 32, 32, 32, 32, 64)
	m0 := mustEncrypt(t, alice, "hello")
	wantDraws(t, "Encrypt", da, 24)
	db := &drawCounter{r: cfgB.Rand, failAfter: -1}
	cfgB.Rand = db
	bob, _, err := Respond(cfgB, bp, m0)
	if err != nil {
		t.Fatal(err)
	}
	// The encapsulation seed on entering RecvEK(1), then DHs; completing
	// the ek (m0 carried it whole) draws nothing.
	wantDraws(t, "Respond", db, 32, 32)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "ct 1"), "ct 1")
	wantDraws(t, "Encrypt at bob", db, 24)
	wantDraws(t, "DH step at alice", da, 32)
	mustDecrypt(t, bob, mustEncrypt(t, alice, "x"), "x")
	wantDraws(t, "Encrypt at alice", da, 24)
	wantDraws(t, "DH step at bob before the confirmation", db, 32)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "ct 2"), "ct 2") // alice decapsulates and mixes
	wantDraws(t, "Encrypt at bob", db, 24)
	// DHs, then the encapsulation seed of RecvEK(2), entered on mixing;
	// the decapsulation draws nothing.
	wantDraws(t, "decapsulation and mix at a DH step", da, 32, 32)
	mustDecrypt(t, bob, mustEncrypt(t, alice, "mixed"), "mixed")
	wantDraws(t, "Encrypt at alice", da, 24)
	// DHs, then the keygen seed of epoch 2 after the confirmation.
	wantDraws(t, "confirmation", db, 32, 64)
	wantPhase(t, "bob", bob, "send-ek", 1)

	// EnablePQ: the joiner draws its keygen seed, the inviter its
	// encapsulation seed.
	la, lb := legacyPair(t, 712)
	ca, cb := counted(la, -1), counted(lb, -1)
	if la.EnablePQ() != nil || lb.EnablePQ() != nil {
		t.Fatal("EnablePQ failed")
	}
	wantDraws(t, "EnablePQ at the joiner", ca, 64)
	wantDraws(t, "EnablePQ at the inviter", cb, 32)
	if la.EnablePQ() != nil || lb.EnablePQ() != nil {
		t.Fatal("EnablePQ failed")
	}
	wantDraws(t, "EnablePQ again at the joiner", ca)
	wantPhase(t, "joiner", la, "send-ek", 0)
	wantPhase(t, "inviter", lb, "recv-ek", 0)
}

// TestPQTurnedOnByABlock: an off session turns on at the first block it
// receives, here on its current chain; the joiner draws its keygen seed.
func TestPQTurnedOnByABlock(t *testing.T) {
	alice, bob := legacyPair(t, 720)
	if err := bob.EnablePQ(); err != nil {
		t.Fatal(err)
	}
	ca := counted(alice, -1)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "hello block"), "hello block")
	wantDraws(t, "joiner turned on", ca, 64)
	wantPhase(t, "alice", alice, "send-ek", 0)
	for range 6 {
		mustDecrypt(t, bob, mustEncrypt(t, alice, "a"), "a")
		mustDecrypt(t, alice, mustEncrypt(t, bob, "b"), "b")
	}
	if alice.PQ().Epochs < 1 || bob.PQ().Epochs < 1 {
		t.Fatalf("no epoch after turning on: alice %+v, bob %+v", alice.PQ(), bob.PQ())
	}
}

// TestPQRandomnessFailure: a draw of the KEM ratchet that fails (the
// encapsulation seed, the keygen seed) fails the whole decrypt and leaves
// every byte of the state unchanged; the message opens later.
func TestPQRandomnessFailure(t *testing.T) {
	alice, bob := legacyPair(t, 730)
	if err := alice.EnablePQ(); err != nil {
		t.Fatal(err)
	}
	// A 4 KiB message with the whole ek, a DH step at bob: DHs (32), then
	// the encapsulation seed (32), drawn as the block turns bob on, fails.
	m := mustEncrypt(t, alice, longText)
	counted(bob, 1)
	before := bob.Marshal()
	if _, err := bob.Decrypt(m); err == nil {
		t.Fatal("decrypt without an encapsulation seed succeeded")
	}
	if !bytes.Equal(before, bob.Marshal()) {
		t.Fatal("failed encapsulation changed the state")
	}
	counted(bob, -1)
	mustDecrypt(t, bob, m, longText)
	wantPhase(t, "bob", bob, "send-ct", 0)
	// Bob's ct reaches alice, who mixes: entering RecvEK(2) needs its
	// encapsulation seed (32) after the DHs (32).
	m = mustEncrypt(t, bob, longText)
	counted(alice, 1)
	before = alice.Marshal()
	if _, err := alice.Decrypt(m); err == nil {
		t.Fatal("mix without an encapsulation seed succeeded")
	}
	if !bytes.Equal(before, alice.Marshal()) {
		t.Fatal("failed mix changed the state")
	}
	counted(alice, -1)
	mustDecrypt(t, alice, m, longText)
	// The confirmation at bob needs its keygen seed (64) after the DHs (32).
	wantPhase(t, "alice", alice, "recv-ek", 1)
	m = mustEncrypt(t, alice, "mixed")
	counted(bob, 1)
	before = bob.Marshal()
	if _, err := bob.Decrypt(m); err == nil {
		t.Fatal("confirmation without a keygen seed succeeded")
	}
	if !bytes.Equal(before, bob.Marshal()) {
		t.Fatal("failed keygen changed the state")
	}
	counted(bob, -1)
	mustDecrypt(t, bob, m, "mixed")
	wantPhase(t, "bob", bob, "send-ek", 1)
	// EnablePQ at a joiner without randomness changes nothing.
	la, _ := legacyPair(t, 731)
	counted(la, 0)
	before = la.Marshal()
	if err := la.EnablePQ(); err == nil {
		t.Fatal("EnablePQ without randomness succeeded")
	}
	if !bytes.Equal(before, la.Marshal()) || la.PQ().On {
		t.Fatal("failed EnablePQ changed the state")
	}
}

// TestPQFailedDecryptLeavesStateUnchanged: a chunk-bearing message that
// does not authenticate changes nothing, on the current chain and at a DH
// step during the trial (neither candidate opens).
func TestPQFailedDecryptLeavesStateUnchanged(t *testing.T) {
	alice, bob := pqUnitPair(t, 740)
	wantPhase(t, "bob", bob, "send-ct", 0)
	m := mustEncrypt(t, bob, "ct chunks")
	bad := bytes.Clone(m)
	bad[len(bad)-20] ^= 1 // in the body tag
	expectFail(t, alice, bad, ErrAuth)
	mustDecrypt(t, alice, m, "ct chunks")
	// A DH step at bob in SendCT: both the mixed and the plain candidate
	// fail on a tampered body.
	step := mustEncrypt(t, alice, "step")
	bad = bytes.Clone(step)
	bad[len(bad)-100] ^= 1
	expectFail(t, bob, bad, ErrAuth)
	mustDecrypt(t, bob, step, "step")
	// A second message on the same chain carrying chunks: tampered, then
	// intact.
	m = mustEncrypt(t, alice, "more")
	bad = bytes.Clone(m)
	bad[len(bad)-1] ^= 0x80
	expectFail(t, bob, bad, ErrAuth)
	mustDecrypt(t, bob, m, "more")
}

// TestPQStaleChunksIgnored: ek chunks of an epoch the receiver has left
// still decrypt and change nothing of the KEM ratchet.
func TestPQStaleChunksIgnored(t *testing.T) {
	cfgA, _ := seeded(750)
	cfgB, _ := seeded(751)
	bp, _ := newBundleVersion(cfgB, bundleVersionPQ)
	alice, err := Initiate(cfgA, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	m0 := mustEncrypt(t, alice, "first")
	m1 := mustEncrypt(t, alice, "second") // ek chunks again
	bob, _, err := Respond(cfgB, bp, m0)
	if err != nil {
		t.Fatal(err)
	}
	wantPhase(t, "bob", bob, "send-ct", 0)
	before := bob.pq.appendTo(nil)
	mustDecrypt(t, bob, m1, "second")
	if !bytes.Equal(before, bob.pq.appendTo(nil)) {
		t.Fatal("stale ek chunks changed the KEM ratchet")
	}
}

// TestPQInvalidEK: an ek that fails FIPS 203's modulus check makes the
// message that completes it fail with ErrAuth, changing nothing.
func TestPQInvalidEK(t *testing.T) {
	alice, bob := legacyPair(t, 760)
	if err := alice.EnablePQ(); err != nil {
		t.Fatal(err)
	}
	for i := range alice.pq.ek {
		alice.pq.ek[i] = 0xff // coefficients ≥ q
	}
	alice.pq.digest = pqDigest(alice.pq.ek[:]) // named as its sender names it
	expectFail(t, bob, mustEncrypt(t, alice, longText), ErrAuth)
	if bob.PQ().On {
		t.Fatal("the failed message turned bob on")
	}
}

// TestPQInitialWithoutEK: an initial message to a bundle of version 0x02
// that has room for chunks but carries none does not authenticate.
func TestPQInitialWithoutEK(t *testing.T) {
	cfgA, _ := seeded(770)
	cfgB, _ := seeded(771)
	bp, _ := newBundleVersion(cfgB, bundleVersionPQ)
	alice, err := Initiate(cfgA, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	alice.pq = pqState{} // a joiner that sends no block
	if _, _, err := Respond(cfgB, bp, mustEncrypt(t, alice, "hi")); !errors.Is(err, ErrAuth) {
		t.Fatalf("Respond: %v, want ErrAuth", err)
	}
}

// TestPQStateVersions: an off session marshals as state version 0x01, an
// on one as 0x02, and both parse back.
func TestPQStateVersions(t *testing.T) {
	alice, bob := legacyPair(t, 780)
	b := alice.Marshal()
	if b[0] != stateVersion1 {
		t.Fatalf("off session marshals as version %d", b[0])
	}
	s, err := ParseSession(alice.cfg, b)
	if err != nil || s.PQ().On {
		t.Fatalf("version 0x01 state: %v, %+v", err, s.PQ())
	}
	if err := bob.EnablePQ(); err != nil {
		t.Fatal(err)
	}
	b = bob.Marshal()
	if b[0] != stateVersionPQ {
		t.Fatalf("on session marshals as version %d", b[0])
	}
	s, err = ParseSession(bob.cfg, b)
	if err != nil || s.PQ() != bob.PQ() || !bytes.Equal(s.Marshal(), b) {
		t.Fatalf("version 0x02 state: %v", err)
	}
}

// TestPQStateEveryPhase: a state in every phase, with a partly filled
// decoder where the phase has one, round-trips; every truncation and
// extension of its section fails; the section stays within its bound.
func TestPQStateEveryPhase(t *testing.T) {
	seen, partial := map[pqPhase]bool{}, map[pqPhase]bool{}
	check := func(s *Session) {
		t.Helper()
		p := &s.pq
		sec := p.appendTo(nil)
		if len(sec) > pqStateMaxSize {
			t.Fatalf("%v: section of %d bytes", p.phase, len(sec))
		}
		q, err := parsePQState(sec)
		if err != nil {
			t.Fatalf("%v: %v", p.phase, err)
		}
		if !bytes.Equal(q.appendTo(nil), sec) {
			t.Fatalf("%v: round trip", p.phase)
		}
		for n := range len(sec) {
			if _, err := parsePQState(sec[:n]); err == nil {
				t.Fatalf("%v: prefix of %d bytes parsed", p.phase, n)
			}
		}
		if _, err := parsePQState(append(bytes.Clone(sec), 0)); err == nil {
			t.Fatalf("%v: extended section parsed", p.phase)
		}
		seen[p.phase] = true
		if len(p.dec.got) > 0 {
			partial[p.phase] = true
		}
	}
	alice, bob := pqUnitPair(t, 790)
	for range 8 {
		check(alice)
		check(bob)
		mustDecrypt(t, alice, mustEncrypt(t, bob, "b"), "b")
		check(alice)
		check(bob)
		mustDecrypt(t, bob, mustEncrypt(t, alice, "a"), "a")
	}
	// MixPending lasts when the ct completes on the current chain: bob
	// sends twice in a row.
	alice, bob = pqUnitPair(t, 792)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "c1"), "c1")
	mustDecrypt(t, alice, mustEncrypt(t, bob, "c2"), "c2")
	check(alice)
	for ph := pqSendEK; ph < pqPhases; ph++ {
		if !seen[ph] {
			t.Errorf("phase %v not reached", ph)
		}
	}
	if !partial[pqSendEK] {
		t.Error("no partly filled ct decoder")
	}
	// A partly filled ek decoder: an off inviter that received a block of
	// fewer than 37 ek chunks.
	la, lb := legacyPair(t, 791)
	if err := la.EnablePQ(); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, lb, mustEncrypt(t, la, "short"), "short")
	if lb.pq.phase != pqRecvEK || len(lb.pq.dec.got) == 0 {
		t.Fatalf("inviter in %v with %d chunks", lb.pq.phase, len(lb.pq.dec.got))
	}
	check(lb)
}

// TestPQVersionsSigned: the bundle's and the offer's version byte is
// signed, so neither can be turned down to 0x01 in transit; sessions from
// version 0x02 offers are on at both ends, from 0x01 offers off.
func TestPQVersionsSigned(t *testing.T) {
	cfg, _ := seeded(800)
	bp, _ := NewBundle(cfg)
	raw := bp.Bundle().Marshal()
	if raw[0] != bundleVersionPQ {
		t.Fatalf("NewBundle made version %d", raw[0])
	}
	raw[0] = bundleVersion1
	if _, err := ParseBundle(raw); err == nil {
		t.Fatal("a bundle with its version changed verified")
	}
	p, err := ParseBundlePrivate(bp.Marshal())
	if err != nil || p.bundleVersion() != bundleVersionPQ {
		t.Fatal("the bundle private key lost its version")
	}

	alice, _, ida, idb := identPair(t, 801)
	for _, v := range []byte{resetVersion1, resetVersionPQ} {
		rcfg, _ := seeded(802 + uint64(v))
		rp, err := newResetVersion(rcfg, 5, v)
		if err != nil {
			t.Fatal(err)
		}
		msg := rp.Message(idb, ida.Public())
		other := bytes.Clone(msg)
		other[1] ^= resetVersion1 ^ resetVersionPQ
		if _, err := ParseReset(other, alice.Remote(), alice.Local()); !errors.Is(err, ErrReset) {
			t.Fatal("an offer with its version changed verified")
		}
		o, err := ParseReset(msg, alice.Remote(), alice.Local())
		if err != nil {
			t.Fatal(err)
		}
		if o.PQ() != (v == resetVersionPQ) {
			t.Fatalf("offer version %d: PQ() = %v", v, o.PQ())
		}
		q, err := ParseResetPrivate(rp.Marshal())
		if err != nil || q.offerVersion() != v {
			t.Fatal("the reset private key lost its version")
		}
		acfg, _ := seeded(810 + uint64(v))
		na, err := AcceptReset(acfg, ida, alice.Remote(), o)
		if err != nil {
			t.Fatal(err)
		}
		nb, pt, err := CompleteReset(rcfg, idb, ida.Public(), q, mustEncrypt(t, na, "answer"))
		if err != nil || string(pt) != "answer" {
			t.Fatalf("CompleteReset: %v", err)
		}
		if na.PQ().On != o.PQ() || nb.PQ().On != o.PQ() {
			t.Fatalf("offer version %d: joiner %+v, offerer %+v", v, na.PQ(), nb.PQ())
		}
	}
}

// TestPQMixPendingWaitsForAStep: a ct that completes on the current chain
// leaves the decapsulator in MixPending until it creates a sending chain;
// its messages on the older chain do not confirm, the first one on the
// mixed chain does.
func TestPQMixPendingWaitsForAStep(t *testing.T) {
	alice, bob := pqUnitPair(t, 820)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "c1"), "c1") // a DH step at alice
	mustDecrypt(t, alice, mustEncrypt(t, bob, "c2"), "c2") // current chain: ct complete
	wantPhase(t, "alice", alice, "mix-pending", 0)
	mustDecrypt(t, bob, mustEncrypt(t, alice, "old chain"), "old chain")
	wantPhase(t, "bob", bob, "send-ct", 0) // candidate B opened
	wantPhase(t, "alice", alice, "mix-pending", 0)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "step"), "step")
	wantPhase(t, "alice", alice, "recv-ek", 1)
	mustDecrypt(t, bob, mustEncrypt(t, alice, "mixed chain"), "mixed chain")
	wantPhase(t, "bob", bob, "send-ek", 1)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "after"), "after")
	mustDecrypt(t, bob, mustEncrypt(t, alice, "after"), "after")
}

// TestPQAllowance: a one-way stream stops carrying chunks once the
// allowance is spent, and a DH step received grows it again.
func TestPQAllowance(t *testing.T) {
	alice, bob := pqUnitPair(t, 830)
	if bob.pq.allowance != pqCTAllowance {
		t.Fatalf("ct allowance %d, want %d", bob.pq.allowance, pqCTAllowance)
	}
	for range 3 { // 27 chunks each: 51 spent in two messages
		mustDecrypt(t, alice, mustEncrypt(t, bob, "b"), "b")
	}
	if bob.pq.allowance != 0 || bob.pq.cursor != pqCTAllowance {
		t.Fatalf("allowance %d, cursor %d", bob.pq.allowance, bob.pq.cursor)
	}
	if alice.pq.phase != pqMixPending {
		t.Fatalf("alice in %v", alice.pq.phase)
	}
	mustDecrypt(t, bob, mustEncrypt(t, alice, "a"), "a") // a DH step at bob
	if bob.pq.allowance != pqCTGrowth {
		t.Fatalf("allowance after a DH step %d, want %d", bob.pq.allowance, pqCTGrowth)
	}
}

// ctBlock returns a ct block of epoch 1 with chunks xs of payload, named
// by digest.
func ctBlock(payload []byte, digest [pqDigestSize]byte, xs ...int) pqBlock {
	b := pqBlock{kind: pqKindCT, epoch: 1, digest: digest}
	for _, x := range xs {
		c := pqChunk{x: byte(x)}
		pqEncode(payload, c.x, &c.d)
		b.chunks = append(b.chunks, c)
	}
	return b
}

func span(from, to int) []int {
	var xs []int
	for x := from; x < to; x++ {
		xs = append(xs, x)
	}
	return xs
}

// TestPQDecoderRestartsOnNewDigest: a block of another digest restarts
// the decoder with its own chunks (spec/session.md §14.4), so chunks of an
// earlier payload never mix into the latest one.
func TestPQDecoderRestartsOnNewDigest(t *testing.T) {
	alice, bob := pqUnitPair(t, 840)
	ct := bob.pq.ct[:]
	other := bytes.Repeat([]byte{0x5c}, len(ct))
	p := alice.pq.clone()
	old := ctBlock(other, pqDigest(other), span(40, 60)...)
	if err := p.incoming(&old, true, false, alice.initiator, noDraws{}); err != nil || len(p.dec.got) != 20 {
		t.Fatalf("%v, %d chunks held", err, len(p.dec.got))
	}
	fresh := ctBlock(ct, bob.pq.digest, span(0, 33)...)
	if !p.quiet(&fresh) {
		t.Fatal("33 chunks of a new payload are not quiet")
	}
	if all := ctBlock(ct, bob.pq.digest, span(0, 34)...); p.quiet(&all) {
		t.Fatal("34 chunks of a new payload are quiet")
	}
	if err := p.incoming(&fresh, true, false, alice.initiator, noDraws{}); err != nil {
		t.Fatal(err)
	}
	if len(p.dec.got) != 33 || p.held != bob.pq.digest {
		t.Fatalf("decoder holds %d chunks after the restart", len(p.dec.got))
	}
	last := ctBlock(ct, bob.pq.digest, 200)
	if err := p.incoming(&last, true, false, alice.initiator, nil); err != nil {
		t.Fatal(err)
	}
	if p.phase != pqMixPending || p.e != bob.pq.e {
		t.Fatalf("phase %v, same E %v", p.phase, p.e == bob.pq.e)
	}
}

// TestPQDecoderRefusesMixedPayload: chunks of two payloads under one
// digest rebuild a payload of another digest: the decoder is emptied and
// nothing completes (spec/session.md §14.4); the right chunks then do.
func TestPQDecoderRefusesMixedPayload(t *testing.T) {
	alice, bob := pqUnitPair(t, 850)
	ct := bob.pq.ct[:]
	other := bytes.Repeat([]byte{0xa3}, len(ct))
	p := alice.pq.clone()
	half := ctBlock(ct, bob.pq.digest, span(0, 17)...)
	forged := ctBlock(other, bob.pq.digest, span(17, 34)...)
	for _, b := range []*pqBlock{&half, &forged} {
		if err := p.incoming(b, true, false, alice.initiator, noDraws{}); err != nil {
			t.Fatal(err)
		}
	}
	if p.phase != pqSendEK || len(p.dec.got) != 0 || p.held != ([pqDigestSize]byte{}) {
		t.Fatalf("phase %v, %d chunks held after a mixed payload", p.phase, len(p.dec.got))
	}
	whole := ctBlock(ct, bob.pq.digest, span(100, 134)...)
	if err := p.incoming(&whole, true, false, alice.initiator, nil); err != nil {
		t.Fatal(err)
	}
	if p.phase != pqMixPending || p.e != bob.pq.e {
		t.Fatalf("phase %v, same E %v", p.phase, p.e == bob.pq.e)
	}
}
