package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

func forwardIdentity(t testing.TB) crypto.SignPrivate {
	k, err := crypto.ParseSignPrivate(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestForwardFramesRoundTrip(t *testing.T) {
	id := forwardIdentity(t)
	fk, err := wire.FKeysFrame(id, 20000, [wire.RouteIDSize]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if err != nil {
		t.Fatal(err)
	}
	fk.CID = 9
	frames := []wire.Frame{
		{Type: wire.TypeFKEY, CID: 1, Password: []byte("pw"), Dest: []byte("veil+ws://127.0.0.1:1#x")},
		{Type: wire.TypeFKEY, CID: 2},
		{Type: wire.TypeFWD, CID: 3, Route: [8]byte{9}, Ephemeral: crypto.DHPublic{1}, Body: []byte{1, 2, 3}},
		{Type: wire.TypeRFWD, CID: 4, NotAfter: 1 << 40, Ephemeral: crypto.DHPublic{2}, Body: []byte{4}},
		{Type: wire.TypeFRES, CID: 5, Body: []byte{5, 6}},
		fk,
	}
	for _, f := range frames {
		b, err := wire.AppendFrame(nil, &f)
		if err != nil {
			t.Fatalf("%v: %v", &f, err)
		}
		if !f.Type.IsCommand() && f.Type != wire.TypeFRES && f.Type != wire.TypeFKEYS {
			t.Fatalf("%v is not a command", f.Type)
		}
		p, err := wire.ParseFrame(b)
		if err != nil {
			t.Fatalf("%v: %v", &f, err)
		}
		again, _ := wire.AppendFrame(nil, &p)
		if !bytes.Equal(again, b) {
			t.Fatalf("%v: round trip differs", &f)
		}
		for n := 0; n < len(b); n++ {
			if f.Type == wire.TypeFWD || f.Type == wire.TypeRFWD || f.Type == wire.TypeFRES {
				if n >= 5+8+32 || (f.Type == wire.TypeFRES && n >= 5) {
					continue // the body takes the rest: any shorter length parses
				}
			}
			if _, err := wire.ParseFrame(b[:n]); err == nil {
				t.Fatalf("%v truncated to %d parses", &f, n)
			}
		}
	}
	long := wire.Frame{Type: wire.TypeFKEY, Dest: make([]byte, wire.MaxDest+1)}
	if _, err := wire.AppendFrame(nil, &long); err == nil {
		t.Fatal("destination over MaxDest encodes")
	}
	bad := binary.BigEndian.AppendUint16([]byte{0x11, 0, 0, 0, 1, 0}, wire.MaxDest+1)
	bad = append(bad, make([]byte, wire.MaxDest+1)...)
	if _, err := wire.ParseFrame(bad); err == nil {
		t.Fatal("destination over MaxDest parses")
	}
}

// TestLongestAddressIsADestination checks that every relay address a
// reader accepts can be an FKEY destination (§3.2, §7.6.2).
func TestLongestAddressIsADestination(t *testing.T) {
	fp := wire.Fingerprint{7}.String()
	prefix, suffix := "veil+ws://", ":65535#"+fp
	host := strings.Repeat("a", wire.MaxAddress-len(prefix)-len(suffix))
	a, err := wire.ParseAddress(prefix + host + suffix)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.String()) != wire.MaxAddress {
		t.Fatalf("canonical form of %d bytes", len(a.String()))
	}
	if _, err := wire.ParseCredentialed(a.String() + "~cGFzcw"); err != nil {
		t.Fatal(err)
	}
	f := wire.Frame{Type: wire.TypeFKEY, CID: 1, Password: []byte("pass"), Dest: []byte(a.String())}
	b, err := wire.AppendFrame(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > wire.MaxItemSize {
		t.Fatalf("FKEY of %d bytes", len(b))
	}
	if g, err := wire.ParseFrame(b); err != nil || string(g.Dest) != a.String() {
		t.Fatalf("parse: %v", err)
	}
	if _, err := wire.ParseAddress(prefix + "a" + host + suffix); err == nil {
		t.Fatal("an address over MaxAddress parses")
	}
}

func TestForwardKeySignature(t *testing.T) {
	id := forwardIdentity(t)
	fk, err := wire.FKeysFrame(id, 20000, [wire.RouteIDSize]byte{})
	if err != nil {
		t.Fatal(err)
	}
	fp := wire.FingerprintOf(id.Public())
	if err := wire.CheckFKeys(&fk, fp); err != nil {
		t.Fatal(err)
	}
	if fk.NotAfter != 20002*86400 {
		t.Fatalf("not-after %d", fk.NotAfter)
	}
	for _, mod := range []func(f *wire.Frame){
		func(f *wire.Frame) { f.NotAfter++ },
		func(f *wire.Frame) { f.ForwardKey[0] ^= 1 },
		func(f *wire.Frame) { f.Sig[5] ^= 1 },
		func(f *wire.Frame) { f.Key[0] ^= 1 },
	} {
		g := fk
		mod(&g)
		if err := wire.CheckFKeys(&g, fp); !errors.Is(err, wire.ErrForwardKey) {
			t.Fatalf("tampered FKEYS: %v", err)
		}
	}
	other, _ := crypto.GenerateSign(nil)
	if err := wire.CheckFKeys(&fk, wire.FingerprintOf(other.Public())); err == nil {
		t.Fatal("FKEYS accepted for another fingerprint")
	}
	k1, _ := wire.DeriveForwardKey(id, 20000)
	k2, _ := wire.DeriveForwardKey(id, 20001)
	if k1.Public() == k2.Public() || k1.Public() != fk.ForwardKey {
		t.Fatal("forward keys do not follow the period")
	}
}

func TestForwardPeriods(t *testing.T) {
	now := time.Unix(20000*86400+5, 0)
	if p := wire.ForwardPeriodOf(now); p != 20000 {
		t.Fatalf("period %d", p)
	}
	if p, ok := wire.ForwardPeriodFor(wire.ForwardNotAfter(20000)); !ok || p != 20000 {
		t.Fatalf("period for not-after: %d %v", p, ok)
	}
	for _, na := range []uint64{0, 86400, 20002*86400 + 1, 1 << 63} {
		if _, ok := wire.ForwardPeriodFor(na); ok {
			t.Fatalf("not-after %d accepted", na)
		}
	}
	if !wire.ForwardTimeOK(uint64(now.Unix()+600), now) || wire.ForwardTimeOK(uint64(now.Unix()-601), now) ||
		wire.ForwardTimeOK(1<<63, now) {
		t.Fatal("time window")
	}
}

func TestForwardSealing(t *testing.T) {
	id := forwardIdentity(t)
	fp := wire.FingerprintOf(id.Public())
	fwd, _ := wire.DeriveForwardKey(id, 20000)
	eph, ks, err := wire.SenderForwardKeys(nil, fp, fwd.Public())
	if err != nil {
		t.Fatal(err)
	}
	item := wire.Frame{Type: wire.TypeSEND, ID: crypto.ID{1}, Body: make([]byte, 256)}
	inner, err := wire.AppendForwardInner(nil, 1234, &item)
	if err != nil {
		t.Fatal(err)
	}
	sealed := ks.SealItem(nil, inner)
	kd, err := wire.DestForwardKeys(fwd, fp, eph)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := kd.OpenItem(nil, sealed)
	if err != nil {
		t.Fatal(err)
	}
	tm, f, err := wire.ParseForwardInner(pt)
	if err != nil || tm != 1234 || f.Type != wire.TypeSEND || f.ID != item.ID {
		t.Fatalf("inner: %d %v %v", tm, &f, err)
	}
	reply, err := kd.SealReply(nil, nil, []byte{0x80, 0, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ks.OpenReply(nil, reply); err != nil || !bytes.Equal(got, []byte{0x80, 0, 0, 0, 0}) {
		t.Fatalf("reply: %x %v", got, err)
	}
	// Two replies under one reply key never share a nonce.
	again, err := kd.SealReply(nil, nil, []byte{0x80, 0, 0, 0, 0})
	if err != nil || bytes.Equal(again[:crypto.NonceSize], reply[:crypto.NonceSize]) {
		t.Fatalf("second reply: same nonce or %v", err)
	}
	for n := range len(reply) {
		if _, err := ks.OpenReply(nil, reply[:n]); err == nil {
			t.Fatalf("reply cut to %d bytes opens", n)
		}
	}
	for i := range reply {
		c := bytes.Clone(reply)
		c[i] ^= 1
		if _, err := ks.OpenReply(nil, c); err == nil {
			t.Fatalf("reply with byte %d flipped opens", i)
		}
	}
	if _, err := ks.OpenItem(nil, reply); err == nil {
		t.Fatal("the reply opens with the item key")
	}
	for i := range sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		if _, err := kd.OpenItem(nil, c); err == nil {
			t.Fatalf("flipped byte %d opens", i)
		}
	}
	otherFP := fp
	otherFP[0] ^= 1
	ko, _ := wire.DestForwardKeys(fwd, otherFP, eph)
	if _, err := ko.OpenItem(nil, sealed); err == nil {
		t.Fatal("opens under another fingerprint")
	}
	if _, err := wire.DestForwardKeys(fwd, fp, crypto.DHPublic{}); err == nil {
		t.Fatal("all-zero ephemeral accepted")
	}
	if _, err := wire.AppendForwardInner(nil, 1, &wire.Frame{Type: wire.TypeSEND, CID: 3}); err == nil {
		t.Fatal("inner item with a CID encodes")
	}
	s := make([]byte, wire.ForwardPaddedSize)
	s[7] = 1
	copy(s[8:], []byte{0, 5, 0x0e, 0, 0, 0, 2})
	if _, _, err := wire.ParseForwardInner(s); err == nil {
		t.Fatal("inner item with a CID parses")
	}
	if ks.String() != "ForwardKeys(redacted)" {
		t.Fatal("keys print")
	}
}

// forwardItems are a forwarded SKEY, TAKE and SEND of each bucket.
func forwardItems() []wire.Frame {
	items := []wire.Frame{
		{Type: wire.TypeSKEY, ID: crypto.ID{1}, Cap: [32]byte{2}},
		{Type: wire.TypeTAKE, ID: crypto.ID{3}},
	}
	for _, n := range crypto.Buckets() {
		items = append(items, wire.Frame{Type: wire.TypeSEND, ID: crypto.ID{4}, Cap: [32]byte{5}, Body: bytes.Repeat([]byte{6}, n)})
	}
	return items
}

// TestForwardInnerSizes: SKEY, TAKE and a SEND of the smallest bucket
// seal to one size; a SEND of a larger bucket to its own (§7.6.3).
func TestForwardInnerSizes(t *testing.T) {
	if wire.MinBucket != crypto.Buckets()[0] {
		t.Fatalf("MinBucket %d, smallest bucket %d", wire.MinBucket, crypto.Buckets()[0])
	}
	if wire.ForwardPaddedSize != 1095 {
		t.Fatalf("padded size %d", wire.ForwardPaddedSize)
	}
	id := forwardIdentity(t)
	fp := wire.FingerprintOf(id.Public())
	fwd, _ := wire.DeriveForwardKey(id, 20000)
	sizes := map[int][]wire.Type{}
	for _, item := range forwardItems() {
		inner, err := wire.AppendForwardInner(nil, 1234, &item)
		if err != nil {
			t.Fatal(err)
		}
		item.CID = 0
		enc, _ := wire.AppendFrame(nil, &item)
		want := max(wire.ForwardPaddedSize, 10+len(enc))
		if len(inner) != want {
			t.Fatalf("%v: inner of %d bytes, want %d", item.Type, len(inner), want)
		}
		tm, f, err := wire.ParseForwardInner(inner)
		if err != nil || tm != 1234 || f.Type != item.Type || f.ID != item.ID || !bytes.Equal(f.Body, item.Body) {
			t.Fatalf("%v: parsed %d %v %v", item.Type, tm, &f, err)
		}
		_, ks, _ := wire.SenderForwardKeys(nil, fp, fwd.Public())
		fr := wire.Frame{Type: wire.TypeFWD, Body: ks.SealItem(nil, inner)}
		b, _ := wire.AppendFrame(nil, &fr)
		sizes[len(b)] = append(sizes[len(b)], item.Type)
	}
	if len(sizes) != 3 || len(sizes[5+8+32+wire.ForwardPaddedSize+crypto.Overhead]) != 3 {
		t.Fatalf("FWD sizes by type: %v", sizes)
	}
}

// TestForwardAlarmItemSizes: PUT and LAPPEND (the invite's leak alarm)
// are forwardable; of the smallest bucket they seal to the size of an
// SKEY, and of the largest they fit an item as FWD (§7.6.3).
func TestForwardAlarmItemSizes(t *testing.T) {
	id := forwardIdentity(t)
	fp := wire.FingerprintOf(id.Public())
	fwd, _ := wire.DeriveForwardKey(id, 20000)
	fwdSize := func(item wire.Frame) int {
		t.Helper()
		if !wire.ForwardableType(item.Type) {
			t.Fatalf("%v is not forwardable", item.Type)
		}
		inner, err := wire.AppendForwardInner(nil, 1234, &item)
		if err != nil {
			t.Fatalf("%v: %v", item.Type, err)
		}
		_, ks, _ := wire.SenderForwardKeys(nil, fp, fwd.Public())
		fr := wire.Frame{Type: wire.TypeFWD, Body: ks.SealItem(nil, inner)}
		b, err := wire.AppendFrame(nil, &fr)
		if err != nil {
			t.Fatalf("%v: %v", item.Type, err)
		}
		return len(b)
	}
	skey := fwdSize(forwardItems()[0])
	bs := crypto.Buckets()
	for _, n := range []int{bs[0], bs[len(bs)-1]} {
		body := bytes.Repeat([]byte{6}, n)
		for _, item := range []wire.Frame{
			{Type: wire.TypeLAPPEND, ID: crypto.ID{7}, Cap: [32]byte{8}, Body: body},
			{Type: wire.TypePUT, ID: crypto.ID{9}, Seconds: 86400, Body: body},
			{Type: wire.TypePUT, ID: crypto.ID{9}, Seconds: 86400, Cap: [32]byte{10}, PutHasPassword: true, Body: body},
		} {
			size := fwdSize(item)
			if n == bs[0] && size != skey {
				t.Errorf("%v of %d bytes: FWD of %d bytes, an SKEY's is %d", item.Type, n, size, skey)
			}
			if size > wire.MaxItemSize {
				t.Errorf("%v of %d bytes: FWD of %d bytes is over %d", item.Type, n, size, wire.MaxItemSize)
			}
		}
	}
}

// TestForwardInnerPaddingRefused: a non-zero padding byte, a length that
// overruns or falls short, and a plaintext of the wrong size are
// malformed (§7.6.4).
func TestForwardInnerPaddingRefused(t *testing.T) {
	for _, item := range forwardItems()[:3] {
		good, err := wire.AppendForwardInner(nil, 1, &item)
		if err != nil {
			t.Fatal(err)
		}
		n := int(good[8])<<8 | int(good[9])
		bad := map[string][]byte{}
		for _, i := range []int{10 + n, (10 + n + len(good)) / 2, len(good) - 1} {
			if i < len(good) && i >= 10+n {
				b := bytes.Clone(good)
				b[i] = 0x80
				bad["padding byte "+strconv.Itoa(i)] = b
			}
		}
		for _, l := range []int{n + 1, n - 1, len(good) - 9, len(good) - 10, 0xffff} {
			b := bytes.Clone(good)
			b[8], b[9] = byte(l>>8), byte(l)
			bad["length "+strconv.Itoa(l)] = b
		}
		bad["one byte short"] = good[:len(good)-1]
		bad["one byte more"] = append(bytes.Clone(good), 0)
		bad["no padding"] = good[:10+n]
		bad["no length"] = good[:9]
		for name, b := range bad {
			if bytes.Equal(b, good) {
				continue // a SEND of the smallest bucket has no padding
			}
			if _, _, err := wire.ParseForwardInner(b); !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("%v, %s: %v", item.Type, name, err)
			}
		}
	}
	big := forwardItems()[3]
	good, _ := wire.AppendForwardInner(nil, 1, &big)
	if _, _, err := wire.ParseForwardInner(append(good, 0)); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("a 4,096-byte SEND with padding: %v", err)
	}
}

func FuzzParseForwardInner(f *testing.F) {
	for _, item := range forwardItems() {
		b, _ := wire.AppendForwardInner(nil, 1234, &item)
		f.Add(b)
	}
	s := make([]byte, wire.ForwardPaddedSize)
	copy(s[8:], []byte{0, 5, 0x09, 0, 0, 0, 0})
	f.Add(s)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, fr, err := wire.ParseForwardInner(b)
		if err != nil {
			if tm != 0 || fr.Body != nil || fr.Type != 0 {
				t.Fatal("partial result with an error")
			}
			return
		}
		out, err := wire.AppendForwardInner(nil, tm, &fr)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip: %x %v", out, err)
		}
	})
}

// FuzzOpenReply checks that a sealed reply opens only as it was sealed:
// whatever opens seals back to the same bytes under its own nonce.
func FuzzOpenReply(f *testing.F) {
	id := forwardIdentity(f)
	fp := wire.FingerprintOf(id.Public())
	fwd, _ := wire.DeriveForwardKey(id, 20000)
	_, ks, err := wire.SenderForwardKeys(bytes.NewReader(bytes.Repeat([]byte{3}, 32)), fp, fwd.Public())
	if err != nil {
		f.Fatal(err)
	}
	ok, _ := ks.SealReply(bytes.NewReader(make([]byte, 12)), nil, []byte{0x80, 0, 0, 0, 0})
	f.Add(ok)
	f.Add(ok[:12])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := ks.OpenReply(nil, b)
		if err != nil {
			if !errors.Is(err, crypto.ErrAuth) || pt != nil {
				t.Fatalf("failure %v with %x", err, pt)
			}
			return
		}
		again, err := ks.SealReply(bytes.NewReader(b[:crypto.NonceSize]), nil, pt)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("reseal: %x %v", again, err)
		}
	})
}

// BenchmarkForwardSeal and BenchmarkForwardOpen measure the client's and
// the destination's cost of one forwarded 16,000-byte SEND (§7.6.3).
func BenchmarkForwardSeal(b *testing.B) {
	id := forwardIdentity(b)
	fp := wire.FingerprintOf(id.Public())
	fwd, _ := wire.DeriveForwardKey(id, 20000)
	item := wire.Frame{Type: wire.TypeSEND, Body: make([]byte, 16000)}
	inner, _ := wire.AppendForwardInner(nil, 1, &item)
	b.SetBytes(int64(len(inner)))
	for b.Loop() {
		_, ks, err := wire.SenderForwardKeys(nil, fp, fwd.Public())
		if err != nil {
			b.Fatal(err)
		}
		ks.SealItem(nil, inner)
	}
}

func BenchmarkForwardOpen(b *testing.B) {
	id := forwardIdentity(b)
	fp := wire.FingerprintOf(id.Public())
	fwd, _ := wire.DeriveForwardKey(id, 20000)
	item := wire.Frame{Type: wire.TypeSEND, Body: make([]byte, 16000)}
	inner, _ := wire.AppendForwardInner(nil, 1, &item)
	eph, ks, _ := wire.SenderForwardKeys(nil, fp, fwd.Public())
	sealed := ks.SealItem(nil, inner)
	b.SetBytes(int64(len(inner)))
	for b.Loop() {
		kd, err := wire.DestForwardKeys(fwd, fp, eph)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kd.OpenItem(nil, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// TestForwardChunkItemSizes: CGET, CDEL and CROOM seal to the size of an
// SKEY; a CPUT of a full chunk fits an item as FWD and as RFWD, and the
// CHUNK reply fits one as FRES (§7.6.3, §7.7).
func TestForwardChunkItemSizes(t *testing.T) {
	id := forwardIdentity(t)
	fp := wire.FingerprintOf(id.Public())
	fwd, _ := wire.DeriveForwardKey(id, 20000)
	seal := func(item wire.Frame) (wire.ForwardKeys, []byte) {
		t.Helper()
		if !wire.ForwardableType(item.Type) {
			t.Fatalf("%v is not forwardable", item.Type)
		}
		inner, err := wire.AppendForwardInner(nil, 1234, &item)
		if err != nil {
			t.Fatalf("%v: %v", item.Type, err)
		}
		_, ks, _ := wire.SenderForwardKeys(nil, fp, fwd.Public())
		return ks, ks.SealItem(nil, inner)
	}
	size := func(f wire.Frame) int {
		t.Helper()
		b, err := wire.AppendFrame(nil, &f)
		if err != nil {
			t.Fatalf("%v: %v", f.Type, err)
		}
		return len(b)
	}
	_, s := seal(forwardItems()[0])
	skey := size(wire.Frame{Type: wire.TypeFWD, Body: s})
	for _, item := range []wire.Frame{
		{Type: wire.TypeCGET, ID: crypto.ID{1}, Cap: [32]byte{2}},
		{Type: wire.TypeCDEL, ID: crypto.ID{1}, Cap: [32]byte{3}},
		{Type: wire.TypeCROOM, Count: wire.MaxChunks, Seconds: 604800, Cap: wire.ChunkPassword(wire.Fingerprint{}, bytes.Repeat([]byte{7}, wire.MaxPassword))},
	} {
		_, s := seal(item)
		if n := size(wire.Frame{Type: wire.TypeFWD, Body: s}); n != skey {
			t.Errorf("%v: FWD of %d bytes, an SKEY's is %d", item.Type, n, skey)
		}
	}
	// The chunk password has one size whatever the relay password's
	// (up to 255 bytes): a CPUT is 16,129 bytes and fits a forward.
	put := wire.Frame{Type: wire.TypeCPUT, ID: crypto.ID{1}, ReadCap: [32]byte{2}, DelCap: [32]byte{3}, Seconds: 86400,
		Cap: wire.ChunkPassword(wire.Fingerprint{}, bytes.Repeat([]byte{7}, wire.MaxPassword)), Body: bytes.Repeat([]byte{6}, wire.ChunkSize)}
	if n := size(put); n != 16129 {
		t.Fatalf("CPUT of %d bytes", n)
	}
	ks, s := seal(put)
	size(wire.Frame{Type: wire.TypeFWD, Body: s})
	size(wire.Frame{Type: wire.TypeRFWD, NotAfter: 1, Body: s})
	chunk, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeCHUNK, Body: put.Body})
	reply, err := ks.SealReply(nil, nil, chunk)
	if err != nil {
		t.Fatal(err)
	}
	size(wire.Frame{Type: wire.TypeFRES, CID: 1, Body: reply})
}
