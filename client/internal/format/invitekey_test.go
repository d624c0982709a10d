package format

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

func testInviteKey(t testing.TB) *InviteKey {
	a, err := wire.ParseAddress("veil+ws://127.0.0.1:4000#" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	k := &InviteKey{Relay: wire.Credentialed{Address: a}}
	copy(k.Secret[:], bytes.Repeat([]byte{7}, 32))
	return k
}

// testPassword is a sentinel: no text but the key's may hold it.
const testPassword = "pw-SENTINEL-3f9a"

func testCredentialedKey(t testing.TB) *InviteKey {
	k := testInviteKey(t)
	k.Relay.Password = wire.Password(testPassword)
	k.HasAlarm, k.AlarmLog = true, crypto.ID{9}
	return k
}

func TestInviteKeyRoundTrip(t *testing.T) {
	withAlarm := testInviteKey(t)
	withAlarm.HasAlarm, withAlarm.AlarmLog = true, crypto.ID{4, 5, 6}
	for name, k := range map[string]*InviteKey{"with alarm log": withAlarm, "older key": testInviteKey(t), "credentialed": testCredentialedKey(t)} {
		t.Run(name, func(t *testing.T) { testInviteKeyRoundTrip(t, k) })
	}
}

func testInviteKeyRoundTrip(t *testing.T, k *InviteKey) {
	s := k.String()
	got, err := ParseInviteKey(" " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != s || got.HasAlarm != k.HasAlarm || got.AlarmLog != k.AlarmLog || !got.Relay.Password.Equal(k.Relay.Password) {
		t.Fatalf("round trip %q != %q", got.String(), s)
	}
	// Any single changed character is caught.
	for i := range s {
		b := []byte(s)
		b[i] ^= 0x01
		if _, err := ParseInviteKey(string(b)); err == nil {
			t.Fatalf("corrupted key (byte %d) accepted", i)
		}
	}
	for n := range len(s) {
		if _, err := ParseInviteKey(s[:n]); err == nil {
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
	b := &InviteBlob{Bundle: bp.Bundle().Marshal(), SID: crypto.ID{3}, Deadline: time.Unix(1800000000, 0), Nick: "ana"}
	pt, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d := DeriveInvite(testInviteKey(t))
	body, err := SealBlob(&d.BlobKey, d.BlobID, pt, LabelBlobAD, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !wire.IsBucket(len(body)) {
		t.Fatalf("sealed blob is %d bytes, not a bucket", len(body))
	}
	out, err := OpenBlob(&d.BlobKey, d.BlobID, body, LabelBlobAD)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseInviteBlob(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Nick != "ana" || got.SID != b.SID || !got.Deadline.Equal(b.Deadline) || !bytes.Equal(got.Bundle, b.Bundle) {
		t.Fatal("blob fields differ")
	}
	body[100] ^= 1
	if _, err := OpenBlob(&d.BlobKey, d.BlobID, body, LabelBlobAD); err == nil {
		t.Fatal("tampered blob opened")
	}
	if _, err := OpenBlob(&d.AlarmKey, d.BlobID, body, LabelBlobAD); err == nil {
		t.Fatal("blob opened under another key")
	}
}

// TestParseInviteKeyWrapped: a key copied off a screen that wrapped it,
// with line breaks and indentation inside, parses as the same key.
func TestParseInviteKeyWrapped(t *testing.T) {
	k := testInviteKey(t)
	k.HasAlarm, k.AlarmLog = true, crypto.ID{7}
	text := k.String()
	wrapped := "  " + text[:40] + "\n" + text[40:90] + "\r\n\t" + text[90:] + "\n"
	got, err := ParseInviteKey(wrapped)
	if err != nil || got.String() != text {
		t.Fatalf("wrapped key: %v", err)
	}
	if _, err := ParseInviteKey(text[:50] + "x" + text[50:]); err == nil {
		t.Fatal("a key with a stray character parsed")
	}
}

func FuzzParseInviteKey(f *testing.F) {
	f.Add(testInviteKey(f).String())
	ka := testInviteKey(f)
	ka.HasAlarm, ka.AlarmLog = true, crypto.ID{1}
	f.Add(ka.String())
	f.Add(testCredentialedKey(f).String())
	f.Add("veil://example.org:443#" + strings.Repeat("B", 43) + ".AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseInviteKey(s)
		if err != nil {
			if k != nil {
				t.Fatal("key with error")
			}
			return
		}
		// The text form allows white space and an address spelt in more
		// than one way, so the round trip is on the canonical form.
		k2, err := ParseInviteKey(k.String())
		if err != nil {
			t.Fatalf("re-encoded key does not parse: %v", err)
		}
		if k2.String() != k.String() || k2.Secret != k.Secret || k2.HasAlarm != k.HasAlarm || k2.AlarmLog != k.AlarmLog || !k2.Relay.Password.Equal(k.Relay.Password) {
			t.Fatal("re-encoded key differs")
		}
	})
}

func FuzzParseInviteBlob(f *testing.F) {
	b := &InviteBlob{Bundle: make([]byte, ratchet.BundleSize), Nick: "x"}
	pt, _ := b.Marshal()
	f.Add(pt)
	f.Add([]byte{1})
	b.Extra, b.Features = []BlobMailbox{{Relay: testRelay2, SID: crypto.ID{4}}}, Features
	pt, _ = b.Marshal()
	f.Add(pt)
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := ParseInviteBlob(p)
		if err != nil {
			if b != nil {
				t.Fatal("blob with error")
			}
			return
		}
		out, err := b.Marshal()
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("round trip differs")
		}
	})
}

func TestFormatRedaction(t *testing.T) {
	secret := bytes.Repeat([]byte{0xab}, 32)
	vals := []any{
		Envelope{Cap: [32]byte(secret)},
		InviteIDs{BlobKey: crypto.SymKey(secret)},
		GroupInviteKeys{Write: [32]byte(secret), Key: crypto.SymKey(secret)},
		GroupWelcome{Secret: crypto.SymKey(secret)},
		GroupBlob{Token: JoinToken(secret[:JoinTokenSize]), Exchange: crypto.SymKey(secret)},
		JoinRequest{Token: JoinToken(secret[:JoinTokenSize])},
	}
	for _, v := range vals {
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(f, v); strings.Contains(s, "abab") || strings.Contains(s, "171 171") {
				t.Errorf("%T printed with %s leaks: %s", v, f, s)
			}
		}
	}
}

// TestGroupBlobVersions: group invites of versions 1 and 2 say they are
// from an older veil; the token and the exchange secret travel in
// version 3.
func TestGroupBlobVersions(t *testing.T) {
	b := &GroupBlob{LogID: crypto.ID{1}, Token: JoinToken{2}, Exchange: crypto.SymKey{4}, Deadline: 3, Name: "river"}
	got, err := ParseGroupBlob(b.Marshal())
	if err != nil || got.Token != b.Token || got.Exchange != b.Exchange || got.LogID != b.LogID || got.Name != "river" || got.Deadline != 3 {
		t.Fatalf("round trip: %v", err)
	}
	if n := len(b.Marshal()); n != 2+crypto.IDSize+JoinTokenSize+crypto.KeySize+8+1+5 {
		t.Fatalf("a version 3 blob of %d bytes", n)
	}
	for _, v := range []byte{1, 2} {
		old := b.Marshal()
		old[1] = v
		if _, err := ParseGroupBlob(old); err == nil || !strings.Contains(err.Error(), "older veil") {
			t.Fatalf("version %d: %v", v, err)
		}
	}
}

// TestGroupExchangeKey: with the blob's exchange secret, the key of the
// exchange log's entries depends on it and on the log ID, so the invite
// key alone (K) opens none of them; the capabilities do not depend on it.
func TestGroupExchangeKey(t *testing.T) {
	secret, salt := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	k := DeriveGroupInvite(secret, salt, crypto.ID{3}, nil)
	x := DeriveGroupInvite(secret, salt, crypto.ID{3}, bytes.Repeat([]byte{4}, 32))
	if x.Write != k.Write || x.Read != k.Read {
		t.Fatal("the exchange secret changed the log's capabilities")
	}
	if x.Key == k.Key {
		t.Fatal("the exchange secret did not change the exchange key")
	}
	log := crypto.ID{3}
	want := crypto.HKDFKey(append(bytes.Clone(k.Key[:]), bytes.Repeat([]byte{4}, 32)...), log[:], labelGroupExchangeKey)
	if x.Key != want {
		t.Fatal("the exchange key is not HKDF(K || exchange secret, log ID)")
	}
	for _, y := range []GroupInviteKeys{
		DeriveGroupInvite(secret, salt, crypto.ID{5}, bytes.Repeat([]byte{4}, 32)),
		DeriveGroupInvite(secret, salt, crypto.ID{3}, bytes.Repeat([]byte{6}, 32)),
	} {
		if y.Key == x.Key {
			t.Fatal("another log or exchange secret gave the same key")
		}
	}
}

// TestCredentialedInviteKey: the password travels in the key's address
// (spec/client.md §2.1), the checksum covers it, the salts of §2.2 do not
// depend on it, and no fmt verb prints it or the secret.
func TestCredentialedInviteKey(t *testing.T) {
	k := testCredentialedKey(t)
	text := k.String()
	enc := wire.Password(testPassword).Encode()
	if !strings.Contains(text, "#"+strings.Repeat("A", 43)+"~"+enc+".") {
		t.Fatalf("key text %q lacks the credentialed address", text)
	}
	// Another password with the same tail fails the checksum.
	other := strings.Replace(text, "~"+enc, "~"+wire.Password("pw-other").Encode(), 1)
	if _, err := ParseInviteKey(other); err == nil {
		t.Fatal("a key with a swapped password parsed")
	}
	// Dropping the password fails the checksum too.
	if _, err := ParseInviteKey(strings.Replace(text, "~"+enc, "", 1)); err == nil {
		t.Fatal("a key with its password removed parsed")
	}
	plain := testInviteKey(t)
	plain.HasAlarm, plain.AlarmLog = true, k.AlarmLog
	if DeriveInvite(k) != DeriveInvite(plain) {
		t.Fatal("the password changed the derived IDs")
	}
	for _, v := range []any{k, *k} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, testPassword) || strings.Contains(out, enc) || strings.Contains(out, text[len(text)-20:]) {
				t.Errorf("%s of %T leaks: %s", verb, v, out)
			}
		}
	}
}
