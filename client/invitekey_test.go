package client

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
)

func testInviteKey(t testing.TB) *inviteKey {
	a, err := wire.ParseAddress("veil+ws://127.0.0.1:4000#" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	k := &inviteKey{Relay: a}
	copy(k.Secret[:], bytes.Repeat([]byte{7}, 32))
	return k
}

func TestInviteKeyRoundTrip(t *testing.T) {
	k := testInviteKey(t)
	s := k.String()
	got, err := parseInviteKey(" " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != s {
		t.Fatalf("round trip %q != %q", got.String(), s)
	}
	// Any single changed character is caught.
	for i := range s {
		b := []byte(s)
		b[i] ^= 0x01
		if _, err := parseInviteKey(string(b)); err == nil {
			t.Fatalf("corrupted key (byte %d) accepted", i)
		}
	}
	for n := range len(s) {
		if _, err := parseInviteKey(s[:n]); err == nil {
			t.Fatalf("truncated key (%d) accepted", n)
		}
	}
	if strings.Contains(k.Secret.String(), "07") || strings.Contains(k.Secret.GoString(), "07") {
		t.Fatal("secret not redacted")
	}
}

func TestInviteBlobSealOpen(t *testing.T) {
	bp, err := ratchet.NewBundle(ratchet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := &inviteBlob{Bundle: bp.Bundle().Marshal(), SID: crypto.ID{3}, Deadline: time.Unix(1800000000, 0), Nick: "ana"}
	pt, err := b.marshal()
	if err != nil {
		t.Fatal(err)
	}
	d := deriveInvite(testInviteKey(t))
	body, err := sealBlob(&d.BlobKey, d.BlobID, pt, labelBlobAD, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !wire.IsBucket(len(body)) {
		t.Fatalf("sealed blob is %d bytes, not a bucket", len(body))
	}
	out, err := openBlob(&d.BlobKey, d.BlobID, body, labelBlobAD)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseInviteBlob(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Nick != "ana" || got.SID != b.SID || !got.Deadline.Equal(b.Deadline) || !bytes.Equal(got.Bundle, b.Bundle) {
		t.Fatal("blob fields differ")
	}
	body[100] ^= 1
	if _, err := openBlob(&d.BlobKey, d.BlobID, body, labelBlobAD); err == nil {
		t.Fatal("tampered blob opened")
	}
	if _, err := openBlob(&d.AlarmKey, d.BlobID, body, labelBlobAD); err == nil {
		t.Fatal("blob opened under another key")
	}
}

func FuzzParseInviteKey(f *testing.F) {
	f.Add(testInviteKey(f).String())
	f.Add("veil://example.org:443#" + strings.Repeat("B", 43) + ".AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseInviteKey(s)
		if err != nil {
			if k != nil {
				t.Fatal("key with error")
			}
			return
		}
		if _, err := parseInviteKey(k.String()); err != nil {
			t.Fatalf("re-encoded key does not parse: %v", err)
		}
	})
}

func FuzzParseInviteBlob(f *testing.F) {
	b := &inviteBlob{Bundle: make([]byte, ratchet.BundleSize), Nick: "x"}
	pt, _ := b.marshal()
	f.Add(pt)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := parseInviteBlob(p)
		if err != nil {
			if b != nil {
				t.Fatal("blob with error")
			}
			return
		}
		out, err := b.marshal()
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("round trip differs")
		}
	})
}

func TestRedaction(t *testing.T) {
	secret := bytes.Repeat([]byte{0xab}, 32)
	vals := []any{
		task{Kind: "send", Key: secret},
		chatMeta{AlarmID: secret},
		dest{relay: "x", cap: [32]byte(secret)},
		envelope{Cap: [32]byte(secret)},
		inviteIDs{BlobKey: crypto.SymKey(secret)},
	}
	for _, v := range vals {
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(f, v); strings.Contains(s, "abab") || strings.Contains(s, "171 171") {
				t.Errorf("%T printed with %s leaks: %s", v, f, s)
			}
		}
	}
}
