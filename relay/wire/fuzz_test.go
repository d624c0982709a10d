package wire_test

import (
	"bytes"
	"strings"
	"testing"

	"veil/crypto"
	"veil/relay/wire"
)

// Every decoder has a fuzz target: parse must never panic, must return
// zero values on error, and what parses must re-encode to the input.

func frameSeeds(f *testing.F) {
	var vs []frameVector
	b, err := readVector("frames.json")
	if err != nil {
		f.Fatal(err)
	}
	if err := unmarshal(b, &vs); err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		f.Add([]byte(v.Encoding))
	}
}

func FuzzParseFrame(f *testing.F) {
	frameSeeds(f)
	f.Add([]byte{0x01})
	f.Add([]byte{0x86, 0, 0, 0, 1, 0xff, 0xff})
	f.Add(append([]byte{0x89, 0, 0, 0, 0}, make([]byte, 24+8)...))          // LNOTE
	f.Add(append([]byte{0x89, 0, 0, 0, 0}, make([]byte, 24+7)...))          // LNOTE, truncated
	f.Add(append([]byte{0x0f, 0, 0, 0, 1}, make([]byte, 24+32+8)...))       // LSUB
	f.Add([]byte{0x11, 0, 0, 0, 1, 2, 'p', 'w', 0, 3, 'a', 'b', 'c'})       // FKEY
	f.Add(append([]byte{0x12, 0, 0, 0, 1}, make([]byte, 8+32+20)...))       // FWD
	f.Add(append([]byte{0x13, 0, 0, 0, 1}, make([]byte, 8+32+20)...))       // RFWD
	f.Add(append([]byte{0x8a, 0, 0, 0, 1}, make([]byte, 8+32+32+8+64)...))  // FKEYS
	f.Add([]byte{0x8b, 0, 0, 0, 1, 9})                                      // FRES
	f.Add(append([]byte{0x14, 0, 0, 0, 1}, make([]byte, 24+32+32+4+16)...)) // CPUT
	f.Add(append([]byte{0x15, 0, 0, 0, 1}, make([]byte, 24+31)...))         // CGET, truncated
	f.Add(append([]byte{0x16, 0, 0, 0, 1}, make([]byte, 24+32)...))         // CDEL
	f.Add(append([]byte{0x17, 0, 0, 0, 1}, make([]byte, 4+4+1)...))         // CROOM, trailing
	f.Add([]byte{0x8c, 0, 0, 0, 1, 7})                                      // CHUNK
	f.Add(append([]byte{0x08, 0, 0, 0, 1}, make([]byte, 24+4+4096)...))     // PUT, short form
	f.Add(append([]byte{0x08, 0, 0, 0, 1}, make([]byte, 24+4+28+4096)...))  // PUT, long form
	f.Add(append([]byte{0x08, 0, 0, 0, 1}, make([]byte, 24+4+27+1024)...))  // PUT, neither form
	f.Fuzz(func(t *testing.T, item []byte) {
		fr, err := wire.ParseFrame(item)
		if err != nil {
			if fr.Body != nil || fr.Entries != nil || fr.Password != nil || fr.Dest != nil {
				t.Fatal("partial frame returned with an error")
			}
			return
		}
		if fr.PutHasPassword && (fr.Type != wire.TypePUT || !wire.IsBucket(len(fr.Body))) {
			t.Fatalf("%v in the long form with a body of %d bytes", fr.Type, len(fr.Body))
		}
		out, err := wire.AppendFrame(nil, &fr)
		if err != nil {
			t.Fatalf("parsed frame does not encode: %v", err)
		}
		if !bytes.Equal(out, item) {
			t.Fatalf("round trip:\n in %x\nout %x", item, out)
		}
	})
}

func FuzzSplitBlock(f *testing.F) {
	var p wire.Packer
	p.Reset(make([]byte, wire.BlockPlainSize))
	p.Add([]byte{0x0e, 0, 0, 0, 1})
	p.Add([]byte{0x09, 0, 0, 0, 2, 1, 2, 3})
	f.Add(append([]byte(nil), p.Finish()...))
	f.Add(make([]byte, wire.BlockPlainSize))
	f.Add([]byte{0, 1, 0, 5})
	f.Fuzz(func(t *testing.T, pt []byte) {
		items, err := wire.SplitBlock(pt)
		if err != nil {
			if items != nil {
				t.Fatal("items returned with an error")
			}
			return
		}
		var q wire.Packer
		q.Reset(make([]byte, wire.BlockPlainSize))
		for _, it := range items {
			if !q.Add(it) {
				t.Fatal("parsed item does not fit again")
			}
		}
		if !bytes.Equal(q.Finish(), pt) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzParseRelayHello(f *testing.F) {
	k, _ := crypto.GenerateSign(bytes.NewReader(make([]byte, 32)))
	h := wire.RelayHello{MinVersion: 1, MaxVersion: 1, BlockSize: wire.BlockSize, Suites: 3}
	h.Sign(k)
	f.Add(h.Marshal())
	f.Add([]byte("VEIL"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := wire.ParseRelayHello(b)
		if err != nil {
			if h != (wire.RelayHello{}) {
				t.Fatal("partial hello returned with an error")
			}
			return
		}
		if !bytes.Equal(h.Marshal(), b) {
			t.Fatal("round trip differs")
		}
		_ = wire.CheckRelayHello(&h, wire.FingerprintOf(h.Identity))
	})
}

func FuzzParseClientHello(f *testing.F) {
	h := wire.ClientHello{Version: 1, Suite: wire.SuiteAES256GCM}
	f.Add(h.Marshal())
	f.Add([]byte("VEIL\x00\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := wire.ParseClientHello(b)
		if err != nil {
			if h != (wire.ClientHello{}) {
				t.Fatal("partial hello returned with an error")
			}
			return
		}
		if !bytes.Equal(h.Marshal(), b) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzParseAddress(f *testing.F) {
	f.Add("veil://relay.example.org:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI")
	f.Add("veil+ws://127.0.0.1:7070/#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI")
	f.Add("veil+ws://[::1]:7070#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI")
	f.Add("veil://a:0#")
	f.Add("veil://[2001:DB8::0:1]:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := wire.ParseAddress(s)
		if err != nil {
			if a != (wire.Address{}) {
				t.Fatal("partial address returned with an error")
			}
			return
		}
		b, err := wire.ParseAddress(a.String())
		if err != nil || b != a || b.String() != a.String() {
			t.Fatalf("round trip of %q: %q, %v", s, a.String(), err)
		}
	})
}

func FuzzParseCredentialed(f *testing.F) {
	const fp = "c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI"
	f.Add("veil://relay.example.org:443#" + fp)
	f.Add("veil://relay.example.org:443#" + fp + "~Y29ycmVjdCBob3JzZQ")
	f.Add("veil+ws://[::1]:7070/#" + fp + "~AA")
	f.Add("veil://a:1#" + fp + "~")
	f.Add("veil://a:1#" + fp + "~AA~AA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := wire.ParseCredentialed(s)
		if err != nil {
			if c.Address != (wire.Address{}) || c.Password != nil {
				t.Fatal("partial address returned with an error")
			}
			return
		}
		if n := len(c.Password); n > wire.MaxPassword {
			t.Fatalf("password of %d bytes", n)
		}
		b, err := wire.ParseCredentialed(c.Secret())
		if err != nil || b.Address != c.Address || !bytes.Equal(b.Password, c.Password) || b.Secret() != c.Secret() {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		if c.String() != c.Address.String() || strings.Contains(c.String(), "~") {
			t.Fatalf("String of %q holds more than the address", s)
		}
	})
}

func FuzzOpen(f *testing.F) {
	var key crypto.SymKey
	for _, suite := range []wire.Suite{wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305} {
		f.Add(uint8(suite), wire.NewSealer(suite, key).Seal(nil, make([]byte, wire.BlockPlainSize)))
	}
	f.Add(uint8(1), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, which uint8, block []byte) {
		suite := wire.Suite(which%2 + 1)
		o := wire.NewOpener(suite, key)
		pt, err := o.Open(nil, block)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			if _, err2 := o.Open(nil, block); err2 == nil {
				t.Fatal("opener usable after a failure")
			}
			return
		}
		if !bytes.Equal(wire.NewSealer(suite, key).Seal(nil, pt), block) {
			t.Fatal("round trip differs")
		}
	})
}
