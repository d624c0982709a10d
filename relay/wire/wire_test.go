package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/crypto"
	"veil/relay/wire"
)

func readVector(name string) ([]byte, error) { return os.ReadFile(filepath.Join(vectorDir, name)) }
func unmarshal(b []byte, v any) error        { return json.Unmarshal(b, v) }

// TestTruncationsAndExtensions checks every truncation and a one-byte
// extension of every vector item: none may parse, except where the
// layout ends in a body (rest of item) that absorbs the change.
func TestTruncationsAndExtensions(t *testing.T) {
	var vs []frameVector
	loadJSON(t, "frames.json", &vs)
	for _, v := range vs {
		enc := []byte(v.Encoding)
		restBody := len(v.Body) > 0 || v.Name == "BLOB"
		rest := len(enc) - len(v.Body)
		if v.Name == "PUT" {
			rest = 5 + 24 + 4 // a PUT's rest holds its optional password too (§7.2)
		}
		for n := 0; n < len(enc); n++ {
			f, err := wire.ParseFrame(enc[:n])
			if err == nil {
				if restBody && n >= rest {
					continue // a shorter body is still a well-formed item
				}
				t.Fatalf("%s truncated to %d parsed as %v", v.Name, n, &f)
			}
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("%s truncated to %d: error %v does not wrap ErrMalformed", v.Name, n, err)
			}
		}
		ext := append(append([]byte(nil), enc...), 0)
		if _, err := wire.ParseFrame(ext); err == nil && !restBody {
			t.Fatalf("%s extended by one byte parsed", v.Name)
		}
	}
}

func TestUnknownType(t *testing.T) {
	_, err := wire.ParseFrame([]byte{0x7f, 0, 0, 0, 9})
	if !wire.IsUnknownType(err) {
		t.Fatalf("err = %v, want unknown type", err)
	}
	if _, err := wire.ParseFrame([]byte{0x01, 0, 0, 0, 9}); wire.IsUnknownType(err) || err == nil {
		t.Fatalf("truncated NEW: err = %v", err)
	}
	if typ, cid, ok := wire.PeekHeader([]byte{0x7f, 0, 0, 0, 9}); !ok || typ != 0x7f || cid != 9 {
		t.Fatal("PeekHeader")
	}
}

func TestSplitBlockRejects(t *testing.T) {
	good := func() []byte {
		var p wire.Packer
		p.Reset(make([]byte, wire.BlockPlainSize))
		p.Add([]byte{0x0e, 0, 0, 0, 1})
		return append([]byte(nil), p.Finish()...)
	}
	if items, err := wire.SplitBlock(good()); err != nil || len(items) != 1 {
		t.Fatalf("good block: %v", err)
	}
	cases := map[string]func(b []byte) []byte{
		"short":          func(b []byte) []byte { return b[:len(b)-1] },
		"long":           func(b []byte) []byte { return append(b, 0) },
		"nonzero pad":    func(b []byte) []byte { b[len(b)-1] = 1; return b },
		"nonzero pad 2":  func(b []byte) []byte { b[100] = 0x80; return b },
		"count too high": func(b []byte) []byte { b[1] = 2; return b },
		"huge count":     func(b []byte) []byte { b[0] = 0xff; return b },
		"zero length":    func(b []byte) []byte { b[2], b[3] = 0, 0; b[1] = 1; return b },
		"length overrun": func(b []byte) []byte { b[2], b[3] = 0xff, 0xff; return b },
	}
	for name, mut := range cases {
		if _, err := wire.SplitBlock(mut(good())); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestPackerFull(t *testing.T) {
	var p wire.Packer
	p.Reset(make([]byte, wire.BlockPlainSize))
	body := make([]byte, crypto.MaxBody)
	f := wire.Frame{Type: wire.TypeSEND, CID: 1, Body: body}
	if ok, err := p.AddFrame(&f); !ok || err != nil {
		t.Fatalf("a 16000-byte SEND must fit in an empty block: %v %v", ok, err)
	}
	if ok, _ := p.AddFrame(&f); ok {
		t.Fatal("a second 16000-byte SEND fitted")
	}
	items, err := wire.SplitBlock(p.Finish())
	if err != nil || len(items) != 1 {
		t.Fatal(err)
	}
	g, err := wire.ParseFrame(items[0])
	if err != nil || !bytes.Equal(g.Body, body) {
		t.Fatal(err)
	}
	big := wire.Frame{Type: wire.TypeSEND, Body: make([]byte, wire.MaxItemSize)}
	if _, err := wire.AppendFrame(nil, &big); err == nil {
		t.Fatal("oversize item encoded")
	}
}

func TestOpenerRejectsTamperAndReorder(t *testing.T) {
	for _, suite := range []wire.Suite{wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305} {
		key, _ := crypto.NewSymKey(nil)
		s := wire.NewSealer(suite, key)
		pt := make([]byte, wire.BlockPlainSize)
		b0 := s.Seal(nil, pt)
		b1 := s.Seal(nil, pt)
		if _, err := wire.NewOpener(suite, key).Open(nil, b1); !errors.Is(err, wire.ErrBlockAuth) {
			t.Fatal("block 1 opened as block 0")
		}
		for _, i := range []int{0, 100, wire.BlockSize - 1} {
			bad := append([]byte(nil), b0...)
			bad[i] ^= 0x20
			if _, err := wire.NewOpener(suite, key).Open(nil, bad); err == nil {
				t.Fatalf("flipped byte %d opened", i)
			}
		}
		other := wire.SuiteAES256GCM + wire.SuiteChaCha20Poly1305 - suite
		if _, err := wire.NewOpener(other, key).Open(nil, b0); err == nil {
			t.Fatal("a block opened under the other suite")
		}
		o := wire.NewOpener(suite, key)
		if _, err := o.Open(nil, b0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdleKeepsTheStream: dropping the expanded keys between blocks
// changes no block: a sealer and an opener that go idle before every
// block produce and accept exactly the blocks of ones that never do, and
// a wiped opener does not come back to life by going idle.
func TestIdleKeepsTheStream(t *testing.T) {
	for _, suite := range []wire.Suite{wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305} {
		key, _ := crypto.NewSymKey(nil)
		busy, idle := wire.NewSealer(suite, key), wire.NewSealer(suite, key)
		o := wire.NewOpener(suite, key)
		for i := range 5 {
			pt := make([]byte, wire.BlockPlainSize)
			pt[0] = byte(i)
			want := busy.Seal(nil, pt)
			idle.Idle()
			got := idle.Seal(nil, pt)
			if !bytes.Equal(got, want) {
				t.Fatalf("%v: block %d sealed after Idle differs", suite, i)
			}
			o.Idle()
			if out, err := o.Open(nil, got); err != nil || out[0] != byte(i) {
				t.Fatalf("%v: block %d after Idle: %v", suite, i, err)
			}
		}
		last := busy.Seal(nil, make([]byte, wire.BlockPlainSize))
		o.Wipe()
		o.Idle()
		if _, err := o.Open(nil, last); !errors.Is(err, wire.ErrBlockAuth) {
			t.Fatalf("%v: a wiped opener opened a block after Idle: %v", suite, err)
		}
	}
}

// TestChooseSuite: the client's choice of spec/relay.md §4.2.
func TestChooseSuite(t *testing.T) {
	both := wire.OfferOf(wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305)
	cases := []struct {
		offer wire.Offer
		hw    bool
		want  wire.Suite
		ok    bool
	}{
		{both, true, wire.SuiteAES256GCM, true},
		{both, false, wire.SuiteChaCha20Poly1305, true},
		{wire.OfferOf(wire.SuiteChaCha20Poly1305), true, wire.SuiteChaCha20Poly1305, true},
		{wire.OfferOf(wire.SuiteAES256GCM), false, wire.SuiteAES256GCM, true},
		{0, true, 0, false},
		{0xfc, true, 0, false}, // only suites this client does not know
	}
	for _, c := range cases {
		got, ok := wire.ChooseSuite(c.offer, c.hw)
		if got != c.want || ok != c.ok {
			t.Errorf("ChooseSuite(%08b, %v) = %v, %v; want %v, %v", c.offer, c.hw, got, ok, c.want, c.ok)
		}
	}
}

func TestCheckRelayHello(t *testing.T) {
	k, _ := crypto.GenerateSign(nil)
	other, _ := crypto.GenerateSign(nil)
	mk := func(mut func(h *wire.RelayHello)) wire.RelayHello {
		h := wire.RelayHello{MinVersion: 1, MaxVersion: 1, BlockSize: wire.BlockSize, Suites: wire.DefaultOffer()}
		mut(&h)
		h.Sign(k)
		return h
	}
	fp := wire.FingerprintOf(k.Public())
	ok := mk(func(*wire.RelayHello) {})
	if err := wire.CheckRelayHello(&ok, fp); err != nil {
		t.Fatal(err)
	}
	if err := wire.CheckRelayHello(&ok, wire.FingerprintOf(other.Public())); err == nil {
		t.Fatal("wrong fingerprint accepted")
	}
	tampered := ok
	tampered.Nonce[0] ^= 1
	if err := wire.CheckRelayHello(&tampered, fp); err == nil {
		t.Fatal("tampered hello accepted")
	}
	none := mk(func(h *wire.RelayHello) { h.Suites = 0xfc })
	if err := wire.CheckRelayHello(&none, fp); err == nil {
		t.Fatal("a hello offering no known suite accepted")
	}
	v2 := mk(func(h *wire.RelayHello) { h.MinVersion, h.MaxVersion = 2, 3 })
	if err := wire.CheckRelayHello(&v2, fp); err == nil {
		t.Fatal("unknown version accepted")
	}
	bs := mk(func(h *wire.RelayHello) { h.BlockSize = 1024 })
	if err := wire.CheckRelayHello(&bs, fp); err == nil {
		t.Fatal("wrong block size accepted")
	}
}

func TestParseAddress(t *testing.T) {
	fp := "c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI"
	good := []string{
		"veil://relay.example.org:443#" + fp,
		"veil+ws://127.0.0.1:7070#" + fp,
		"veil+ws://[::1]:7070/#" + fp,
		"veil+ws://abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion:80#" + fp,
	}
	for _, s := range good {
		a, err := wire.ParseAddress(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if !strings.HasPrefix(a.WebSocketURL(), "ws") || !strings.HasSuffix(a.WebSocketURL(), "/v1") {
			t.Errorf("%s: url %s", s, a.WebSocketURL())
		}
	}
	bad := []string{
		"", "veil://relay:443", "http://relay:443#" + fp, "veil://relay#" + fp, "veil://relay:0#" + fp,
		"veil://relay:65536#" + fp, "veil://:443#" + fp, "veil://u@relay:443#" + fp, "veil://relay:443/x#" + fp,
		"veil://relay:443?q#" + fp, "veil://relay:443#" + fp[:42], "veil://relay:443#" + fp + "A",
		"veil://relay:443#" + strings.Replace(fp, "c", "+", 1), "veil://::1:443#" + fp, "veil://relay:0443#" + fp,
	}
	for _, s := range bad {
		if _, err := wire.ParseAddress(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// TestCanonicalAddress checks the canonical form of spec/relay.md §3.4:
// each input parses, and its String is exactly the canonical text, which
// parses back to the same Address.
func TestCanonicalAddress(t *testing.T) {
	fp := "#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI"
	cases := []struct{ in, want string }{
		{"veil://relay.example.org:443" + fp, "veil://relay.example.org:443" + fp},
		{"veil://Relay.EXAMPLE.org:443" + fp, "veil://relay.example.org:443" + fp},
		{"veil://relay.example.org:443/" + fp, "veil://relay.example.org:443" + fp},
		{"veil+ws://127.0.0.1:7070" + fp, "veil+ws://127.0.0.1:7070" + fp},
		{"veil+ws://[127.0.0.1]:7070" + fp, "veil+ws://127.0.0.1:7070" + fp},
		{"veil+ws://[::1]:7070/" + fp, "veil+ws://[::1]:7070" + fp},
		{"veil://[2001:DB8:0:0:0:0:0:1]:443" + fp, "veil://[2001:db8::1]:443" + fp},
		{"veil://[2001:db8:0:1:1:1:1:1]:443" + fp, "veil://[2001:db8:0:1:1:1:1:1]:443" + fp},
		{"veil://[::ffff:192.0.2.1]:443" + fp, "veil://[::ffff:192.0.2.1]:443" + fp},
		{"veil+ws://ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwx.onion:80" + fp,
			"veil+ws://abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion:80" + fp},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			a, err := wire.ParseAddress(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.String(); got != c.want {
				t.Fatalf("String = %s, want %s", got, c.want)
			}
			b, err := wire.ParseAddress(c.want)
			if err != nil || b != a {
				t.Fatalf("the canonical form parses to %+v, %v; want %+v", b, err, a)
			}
		})
	}
	// An Address built by hand prints canonically too.
	a, _ := wire.ParseAddress(cases[0].in)
	a.Host = "RELAY.Example.org"
	if a.String() != cases[0].want {
		t.Fatalf("String of a hand-built Address = %s", a.String())
	}
	a.Host = "2001:db8:0::1"
	if want := "veil://[2001:db8::1]:443" + fp; a.String() != want {
		t.Fatalf("String of a hand-built IPv6 Address = %s, want %s", a.String(), want)
	}
}

func TestErrorIs(t *testing.T) {
	var err error = &wire.Error{Code: wire.CodeAuth}
	if !errors.Is(err, &wire.Error{Code: wire.CodeAuth}) || errors.Is(err, &wire.Error{Code: wire.CodeQuota}) {
		t.Fatal("errors.Is on wire.Error")
	}
	if wire.CodeAuth.String() != "AUTH" || wire.Code(999).String() != "CODE_999" {
		t.Fatal("Code.String")
	}
}

func TestFrameStringHidesSecrets(t *testing.T) {
	f := wire.Frame{Type: wire.TypeSEND, CID: 7, Cap: [32]byte{0xaa, 0xbb}, Body: []byte("secret body")}
	s := f.String()
	if strings.Contains(s, "aabb") || strings.Contains(s, "secret") || s != "SEND(cid=7)" {
		t.Fatalf("String = %q", s)
	}
}

func BenchmarkAppendParseSEND(b *testing.B) {
	f := wire.Frame{Type: wire.TypeSEND, CID: 1, Body: make([]byte, 1024)}
	buf := make([]byte, 0, 2048)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		out, _ := wire.AppendFrame(buf[:0], &f)
		if _, err := wire.ParseFrame(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlock seals and opens one block carrying 15 1 KiB SENDs.
func BenchmarkBlock(b *testing.B) {
	key, _ := crypto.NewSymKey(nil)
	s, o := wire.NewSealer(wire.SuiteAES256GCM, key), wire.NewOpener(wire.SuiteAES256GCM, key)
	f := wire.Frame{Type: wire.TypeSEND, CID: 1, Body: make([]byte, 1024)}
	pt := make([]byte, wire.BlockPlainSize)
	sealed := make([]byte, 0, wire.BlockSize)
	b.SetBytes(wire.BlockSize)
	b.ReportAllocs()
	for b.Loop() {
		var p wire.Packer
		p.Reset(pt)
		for {
			ok, err := p.AddFrame(&f)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
		blk := s.Seal(sealed[:0], p.Finish())
		opened, err := o.Open(blk[:0], blk)
		if err != nil {
			b.Fatal(err)
		}
		items, err := wire.SplitBlock(opened)
		if err != nil || len(items) != 15 {
			b.Fatalf("%d items, %v", len(items), err)
		}
	}
}

// BenchmarkSplitBlockPadded splits a block holding one small reply, the
// usual block at moderate load: the padding check covers almost all of it.
func BenchmarkSplitBlockPadded(b *testing.B) {
	var p wire.Packer
	p.Reset(make([]byte, wire.BlockPlainSize))
	p.Add([]byte{0x0e, 0, 0, 0, 1})
	pt := p.Finish()
	b.SetBytes(wire.BlockPlainSize)
	for b.Loop() {
		if items, err := wire.SplitBlock(pt); err != nil || len(items) != 1 {
			b.Fatal(err)
		}
	}
}
