package wire_test

import (
	"bytes"
	"testing"

	"veil/crypto"
	"veil/relay/wire"
)

// TestBucketsAndPutPassword: no two buckets differ by PutPasswordSize,
// so a PUT's rest is at most one of the two forms (spec/relay.md §6,
// §7.2).
func TestBucketsAndPutPassword(t *testing.T) {
	for _, a := range crypto.Buckets() {
		for _, b := range crypto.Buckets() {
			if a-b == wire.PutPasswordSize {
				t.Errorf("buckets %d and %d differ by %d", a, b, wire.PutPasswordSize)
			}
		}
	}
}

// TestPutForms: a PUT's rest after blob ID and lifetime is a bucket (the
// short form), or PutPasswordSize more than one (the long form), or
// neither, which parses as a body the relay refuses (spec/relay.md §7.2).
func TestPutForms(t *testing.T) {
	fp := wire.Fingerprint{1, 2, 3}
	pw := wire.PutPassword(fp, []byte("correct horse"))
	for _, n := range crypto.Buckets() {
		body := bytes.Repeat([]byte{7}, n)
		short := wire.Frame{Type: wire.TypePUT, CID: 1, ID: crypto.ID{9}, Seconds: 60, Body: body}
		long := short
		long.Cap, long.PutHasPassword = pw, true
		sb, err := wire.AppendFrame(nil, &short)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := wire.AppendFrame(nil, &long)
		if err != nil {
			t.Fatal(err)
		}
		if len(sb) != 5+24+4+n || len(lb) != len(sb)+wire.PutPasswordSize {
			t.Fatalf("bucket %d: short form %d bytes, long form %d", n, len(sb), len(lb))
		}
		send, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeSEND, ID: crypto.ID{9}, Body: body})
		if len(lb) != len(send) {
			t.Errorf("bucket %d: long-form PUT of %d bytes, SEND of %d", n, len(lb), len(send))
		}
		for _, c := range []struct {
			name string
			item []byte
			want wire.Frame
		}{{"short", sb, short}, {"long", lb, long}} {
			p, err := wire.ParseFrame(c.item)
			if err != nil {
				t.Fatalf("%s form of %d: %v", c.name, n, err)
			}
			if p.PutHasPassword != c.want.PutHasPassword || p.Cap != c.want.Cap || !bytes.Equal(p.Body, body) {
				t.Errorf("%s form of %d: parsed long %v, cap %x, body of %d bytes", c.name, n, p.PutHasPassword, p.Cap, len(p.Body))
			}
		}
		// Neither form: the rest is the body, whatever its first bytes.
		for _, extra := range []int{-1, 1, wire.PutPasswordSize - 1, wire.PutPasswordSize + 1} {
			item := append(bytes.Clone(sb[:5+24+4]), make([]byte, n+extra)...)
			p, err := wire.ParseFrame(item)
			if err != nil {
				t.Fatalf("rest of %d: %v", n+extra, err)
			}
			if p.PutHasPassword || len(p.Body) != n+extra {
				t.Errorf("rest of %d: long %v, body of %d bytes", n+extra, p.PutHasPassword, len(p.Body))
			}
		}
		// A long form needs a bucket body: it could not be told apart.
		bad := long
		bad.Body = body[:n-wire.PutPasswordSize]
		if _, err := wire.AppendFrame(nil, &bad); err == nil {
			t.Errorf("a long-form PUT with a body of %d bytes encodes", len(bad.Body))
		}
	}
}
