package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"veil/crypto"
)

// groupRand is a deterministic randomness source for group tests.
func groupRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	s[31] = 'g'
	return rand.NewChaCha8(s)
}

// testGroup is one epoch of a group of n members, each with its own state.
type testGroup struct {
	id      [GroupIDSize]byte
	secret  crypto.SymKey
	keys    []crypto.SignPrivate
	members []*GroupEpoch
	now     *time.Time
}

func newTestGroup(t testing.TB, seed uint64, n int, epoch uint64) *testGroup {
	t.Helper()
	r := groupRand(seed)
	g := &testGroup{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g.now = &now
	if err := crypto.RandomBytes(r, g.id[:]); err != nil {
		t.Fatal(err)
	}
	var err error
	if g.secret, err = crypto.NewSymKey(r); err != nil {
		t.Fatal(err)
	}
	pubs := make([]crypto.SignPublic, n)
	for i := range n {
		k, err := crypto.GenerateSign(r)
		if err != nil {
			t.Fatal(err)
		}
		g.keys = append(g.keys, k)
		pubs[i] = k.Public()
	}
	for i := range n {
		cfg := Config{Rand: groupRand(seed*1000 + uint64(i) + 1), Now: func() time.Time { return *g.now }}
		e, err := NewGroupEpoch(cfg, &g.secret, g.id, epoch, g.keys[i], pubs)
		if err != nil {
			t.Fatal(err)
		}
		g.members = append(g.members, e)
	}
	return g
}

func groupEncrypt(t testing.TB, g *GroupEpoch, pt string) []byte {
	t.Helper()
	m, err := g.Encrypt([]byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGroupEveryMemberReadsEveryOther(t *testing.T) {
	g := newTestGroup(t, 1, 3, 1)
	for i, sender := range g.members {
		for k := range 3 {
			pt := fmt.Sprintf("message %d from member %d", k, i)
			m := groupEncrypt(t, sender, pt)
			if !crypto.IsBucket(len(m)) {
				t.Fatalf("message length %d is not a bucket", len(m))
			}
			for j, rcv := range g.members {
				got, from, err := rcv.Decrypt(m)
				if j == i {
					if !errors.Is(err, ErrOwnMessage) {
						t.Fatalf("own message: got %v, want ErrOwnMessage", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("member %d reading member %d: %v", j, i, err)
				}
				if string(got) != pt || from != g.keys[i].Public() {
					t.Fatalf("member %d read %q from %v", j, got, from)
				}
			}
		}
	}
}

// TestGroupStateUnchangedOnFailure flips every byte of a message, truncates
// and extends it, and delivers each twice: every attempt fails and leaves the
// receiver's encoded state byte for byte as it was; the intact message then
// decrypts.
func TestGroupStateUnchangedOnFailure(t *testing.T) {
	g := newTestGroup(t, 2, 2, 1)
	a, b := g.members[0], g.members[1]
	m := groupEncrypt(t, a, "hello")
	before := b.Marshal()
	check := func(what string, msg []byte) {
		t.Helper()
		_, _, err := b.Decrypt(msg)
		if err == nil {
			t.Fatalf("%s: accepted", what)
		}
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("%s: got %v, want ErrAuth", what, err)
		}
		if !bytes.Equal(b.Marshal(), before) {
			t.Fatalf("%s: state changed", what)
		}
	}
	for i := range m {
		bad := bytes.Clone(m)
		bad[i] ^= 0x40
		check(fmt.Sprintf("byte %d flipped", i), bad)
	}
	for _, n := range []int{0, 1, groupBodyOff, len(m) - 1} {
		check(fmt.Sprintf("truncated to %d", n), m[:n])
	}
	check("extended", append(bytes.Clone(m), 0))
	if _, _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
}

// TestGroupForgedSender: a member holds every other member's chain key, so
// it can build a message that decrypts as another member's; only the
// signature stops it. The forgery is refused and changes nothing.
func TestGroupForgedSender(t *testing.T) {
	g := newTestGroup(t, 3, 3, 1)
	a, mallory, c := g.members[0], g.members[1], g.members[2]
	// Mallory's view of a's chain, turned into a sending state that claims
	// to be a but signs with mallory's own key.
	forger := *mallory
	forger.selfPub = a.Self()
	forger.ck = mallory.peers[mallory.peer(a.Self())].ck
	forger.n = 0
	m := groupEncrypt(t, &forger, "transfer the money")
	before := c.Marshal()
	if _, _, err := c.Decrypt(m); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged message: got %v, want ErrAuth", err)
	}
	if !bytes.Equal(before, c.Marshal()) {
		t.Fatal("a forged message changed the state")
	}
	// a's real first message still reads.
	if pt, _, err := c.Decrypt(groupEncrypt(t, a, "real")); err != nil || string(pt) != "real" {
		t.Fatalf("real message after forgery: %q, %v", pt, err)
	}
}

// TestGroupForgedOwnHeader: a member holds the header key, so it can write
// a header naming the reader's own key. Only a message signed with that
// key is the reader's own (ErrOwnMessage, which a client takes for a copy
// of its keys when it did not write it); one whose signature does not
// verify under it is a forgery like any other (ErrAuth).
func TestGroupForgedOwnHeader(t *testing.T) {
	g := newTestGroup(t, 3, 3, 1)
	a, mallory := g.members[0], g.members[1]
	forger := *mallory
	forger.selfPub = a.Self()
	m := groupEncrypt(t, &forger, "written with your keys")
	before := a.Marshal()
	if _, _, err := a.Decrypt(m); !errors.Is(err, ErrAuth) || errors.Is(err, ErrOwnMessage) {
		t.Fatalf("own key named over mallory's signature: got %v, want ErrAuth", err)
	}
	if !bytes.Equal(before, a.Marshal()) {
		t.Fatal("a forged message changed the state")
	}
	// A copy of a's state does sign with a's key: that is a's own.
	st := a.Marshal()
	dup, err := UnmarshalGroupEpoch(Config{}, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Decrypt(groupEncrypt(t, dup, "from a copy")); !errors.Is(err, ErrOwnMessage) {
		t.Fatalf("a message signed with the reader's key: got %v, want ErrOwnMessage", err)
	}
}

func TestGroupOutOfOrderAndDuplicates(t *testing.T) {
	g := newTestGroup(t, 4, 2, 1)
	a, b := g.members[0], g.members[1]
	var ms [][]byte
	for i := range 6 {
		ms = append(ms, groupEncrypt(t, a, fmt.Sprint("m", i)))
	}
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		pt, _, err := b.Decrypt(ms[i])
		if err != nil || string(pt) != fmt.Sprint("m", i) {
			t.Fatalf("message %d: %q, %v", i, pt, err)
		}
	}
	if got := len(b.peers[0].skipped); got != 0 {
		t.Fatalf("%d skipped keys left after every message arrived", got)
	}
	for i := range ms {
		before := b.Marshal()
		if _, _, err := b.Decrypt(ms[i]); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("replay of %d: got %v, want ErrDuplicate", i, err)
		}
		if !bytes.Equal(before, b.Marshal()) {
			t.Fatal("a replay changed the state")
		}
	}
}

func TestGroupSkipBounds(t *testing.T) {
	g := newTestGroup(t, 5, 2, 1)
	a, b := g.members[0], g.members[1]
	var last []byte
	for range MaxGroupSkip + 2 {
		last = groupEncrypt(t, a, "x")
	}
	before := b.Marshal()
	if _, _, err := b.Decrypt(last); !errors.Is(err, ErrTooFarAhead) { // n = MaxGroupSkip+1
		t.Fatalf("got %v, want ErrTooFarAhead", err)
	}
	if !bytes.Equal(before, b.Marshal()) {
		t.Fatal("a refused message changed the state")
	}
	// A jump of exactly MaxGroupSkip is accepted and keeps only the newest
	// MaxGroupSkippedKeys skipped keys.
	a2 := newTestGroup(t, 5, 2, 1)
	var m []byte
	for range MaxGroupSkip + 1 {
		m = groupEncrypt(t, a2.members[0], "y")
	}
	rcv := a2.members[1]
	if _, _, err := rcv.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	sk := rcv.peers[0].skipped
	if len(sk) != MaxGroupSkippedKeys || sk[0].n != MaxGroupSkip-MaxGroupSkippedKeys {
		t.Fatalf("%d skipped keys from %d, want %d from %d", len(sk), sk[0].n, MaxGroupSkippedKeys, MaxGroupSkip-MaxGroupSkippedKeys)
	}
	// Skipped keys expire after SkippedKeyTTL.
	*a2.now = a2.now.Add(SkippedKeyTTL + time.Hour)
	if _, _, err := rcv.Decrypt(groupEncrypt(t, a2.members[0], "z")); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.peers[0].skipped); n != 0 {
		t.Fatalf("%d skipped keys survived their TTL", n)
	}
}

// TestGroupRemovedMemberReadsNothing: the next epoch is sealed to the
// remaining members only; the removed member has no sealed secret, and its
// old state refuses every message of the new epoch.
func TestGroupRemovedMemberReadsNothing(t *testing.T) {
	g := newTestGroup(t, 6, 3, 1)
	removed := g.members[2]
	r := groupRand(66)
	next, err := crypto.NewSymKey(r)
	if err != nil {
		t.Fatal(err)
	}
	ctx := EpochContext(g.id, 2)
	dh := make([]testSealKey, 3)
	for i := range dh {
		dh[i] = newTestSealKey(t, r)
	}
	sealed, err := SealEpochSecret(&next, ctx, []SealRecipient{dh[0].recipient(), dh[1].recipient()}, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != SealedEpochSize(2) {
		t.Fatalf("sealed size %d", len(sealed))
	}
	pubs := []crypto.SignPublic{g.keys[0].Public(), g.keys[1].Public()}
	var e2 []*GroupEpoch
	for i := range 2 {
		s, err := dh[i].open(sealed, ctx, i)
		if err != nil || s != next {
			t.Fatalf("member %d cannot open the new epoch: %v", i, err)
		}
		e, err := NewGroupEpoch(Config{Rand: groupRand(uint64(70 + i))}, &s, g.id, 2, g.keys[i], pubs)
		if err != nil {
			t.Fatal(err)
		}
		e2 = append(e2, e)
	}
	for i := range 2 {
		if _, err := dh[2].open(sealed, ctx, i); !errors.Is(err, ErrAuth) {
			t.Fatalf("removed member opened slot %d: %v", i, err)
		}
	}
	if _, err := dh[2].open(sealed, ctx, 2); !errors.Is(err, ErrAuth) {
		t.Fatal("removed member found a slot of its own")
	}
	m := groupEncrypt(t, e2[0], "after the removal")
	if pt, _, err := e2[1].Decrypt(m); err != nil || string(pt) != "after the removal" {
		t.Fatalf("remaining member: %q, %v", pt, err)
	}
	if _, _, err := removed.Decrypt(m); !errors.Is(err, ErrAuth) {
		t.Fatalf("removed member: got %v, want ErrAuth", err)
	}
	w1, r1 := g.members[0].Caps()
	w2, r2 := e2[0].Caps()
	if w1 == w2 || r1 == r2 {
		t.Fatal("the new epoch reuses the old log capabilities")
	}
	// The old epoch's messages do not open under the new one either.
	if _, _, err := e2[1].Decrypt(groupEncrypt(t, g.members[0], "old")); !errors.Is(err, ErrAuth) {
		t.Fatalf("old-epoch message in the new epoch: %v", err)
	}
}

func TestSealedEpochTampering(t *testing.T) {
	r := groupRand(8)
	s, _ := crypto.NewSymKey(r)
	k := newTestSealKey(t, r)
	var id [GroupIDSize]byte
	ctx := EpochContext(id, 9)
	sealed, err := SealEpochSecret(&s, ctx, []SealRecipient{k.recipient()}, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := k.open(bad, ctx, 0); err == nil {
			t.Fatalf("byte %d flipped: opened", i)
		}
	}
	for n := range len(sealed) {
		if _, err := k.open(sealed[:n], ctx, 0); err == nil {
			t.Fatalf("truncated to %d: opened", n)
		}
	}
	if _, err := k.open(sealed, EpochContext(id, 10), 0); err == nil {
		t.Fatal("opened under another epoch's context")
	}
	// Each half of the hybrid is needed: the right X25519 key with another
	// ML-KEM key, or the other way round, opens nothing.
	o := newTestSealKey(t, r)
	if _, err := OpenEpochSecret(sealed, ctx, 0, k.dh, &o.kem); err == nil {
		t.Fatal("opened without the ML-KEM key")
	}
	if _, err := OpenEpochSecret(sealed, ctx, 0, o.dh, &k.kem); err == nil {
		t.Fatal("opened without the X25519 key")
	}
	if _, err := OpenEpochSecret(sealed, ctx, 0, k.dh, nil); err == nil {
		t.Fatal("opened with no ML-KEM key")
	}
	if _, err := SealEpochSecret(&s, ctx, nil, r); err == nil {
		t.Fatal("sealed to nobody")
	}
}

func TestGroupEpochMarshal(t *testing.T) {
	g := newTestGroup(t, 9, 3, 7)
	a, b := g.members[0], g.members[1]
	var ms [][]byte
	for i := range 4 {
		ms = append(ms, groupEncrypt(t, a, fmt.Sprint(i)))
	}
	if _, _, err := b.Decrypt(ms[3]); err != nil { // leaves 3 skipped keys
		t.Fatal(err)
	}
	enc := b.Marshal()
	c, err := UnmarshalGroupEpoch(Config{}, enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Marshal(), enc) {
		t.Fatal("marshal after unmarshal differs")
	}
	if c.Epoch() != 7 || c.Members() != 3 || c.Self() != g.keys[1].Public() {
		t.Fatal("accessors after unmarshal")
	}
	if pt, _, err := c.Decrypt(ms[1]); err != nil || string(pt) != "1" {
		t.Fatalf("skipped message after unmarshal: %q, %v", pt, err)
	}
	for n := range len(enc) {
		if _, err := UnmarshalGroupEpoch(Config{}, enc[:n]); err == nil {
			t.Fatalf("truncated to %d: accepted", n)
		}
	}
	if _, err := UnmarshalGroupEpoch(Config{}, append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("extended: accepted")
	}
	for _, s := range []string{fmt.Sprint(b), fmt.Sprintf("%+v", *b), fmt.Sprintf("%#v", b)} {
		if strings.Contains(s, fmt.Sprintf("%x", b.hk[:4])) || !strings.Contains(s, "redacted") {
			t.Fatalf("state printed as %q", s)
		}
	}
}

func TestNewGroupEpochRejects(t *testing.T) {
	r := groupRand(10)
	k, _ := crypto.GenerateSign(r)
	o, _ := crypto.GenerateSign(r)
	var s crypto.SymKey
	var id [GroupIDSize]byte
	for name, members := range map[string][]crypto.SignPublic{
		"empty":      nil,
		"without me": {o.Public()},
		"twice":      {k.Public(), o.Public(), o.Public()},
		"over limit": make([]crypto.SignPublic, MaxGroupMembers+1),
	} {
		if _, err := NewGroupEpoch(Config{}, &s, id, 1, k, members); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	g := newTestGroup(t, 11, 2, 1)
	if _, err := g.members[0].Encrypt(make([]byte, MaxGroupPlaintext+1)); !errors.Is(err, crypto.ErrTooLong) {
		t.Fatalf("oversized plaintext: %v", err)
	}
	m, err := g.members[0].Encrypt(make([]byte, MaxGroupPlaintext))
	if err != nil || len(m) != crypto.MaxBody {
		t.Fatalf("largest plaintext: %d bytes, %v", len(m), err)
	}
	if _, _, err := g.members[1].Decrypt(m); err != nil {
		t.Fatal(err)
	}
}

func TestGroupLogIDSeal(t *testing.T) {
	g := newTestGroup(t, 12, 2, 3)
	other := newTestGroup(t, 13, 2, 3)
	var id crypto.ID
	id[0], id[23] = 7, 9
	s, err := g.members[0].SealLogID(id)
	if err != nil || len(s) != SealedLogIDSize {
		t.Fatalf("%d bytes, %v", len(s), err)
	}
	if got, err := g.members[1].OpenLogID(s); err != nil || got != id {
		t.Fatalf("open: %v", err)
	}
	if _, err := other.members[0].OpenLogID(s); !errors.Is(err, ErrAuth) {
		t.Fatalf("another group's member opened the log ID: %v", err)
	}
	for i := range s {
		bad := bytes.Clone(s)
		bad[i] ^= 1
		if _, err := g.members[1].OpenLogID(bad); err == nil {
			t.Fatalf("byte %d flipped: opened", i)
		}
	}
}

// testSealKey is one member's pair of sealing keys.
type testSealKey struct {
	dh  crypto.DHPrivate
	kem crypto.KEM768Private
}

func newTestSealKey(t testing.TB, r io.Reader) testSealKey {
	t.Helper()
	d, err := crypto.GenerateDH(r)
	if err != nil {
		t.Fatal(err)
	}
	q, err := crypto.GenerateKEM768(r)
	if err != nil {
		t.Fatal(err)
	}
	return testSealKey{d, q}
}

func (k *testSealKey) recipient() SealRecipient {
	return SealRecipient{DH: k.dh.Public(), KEM: k.kem.Public()}
}

func (k *testSealKey) open(sealed []byte, ctx [EpochContextSize]byte, i int) (crypto.SymKey, error) {
	return OpenEpochSecret(sealed, ctx, i, k.dh, &k.kem)
}
