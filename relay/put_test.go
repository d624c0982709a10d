package relay_test

import (
	"bytes"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/wire"
)

// putRaw sends a PUT in the form given (spec/relay.md §7.2), without
// conn.Conn.Put's fallback.
func putRaw(t *testing.T, c *conn.Conn, f wire.Frame) error {
	t.Helper()
	r, err := c.Do(tctx(t), &f)
	if err == nil && r.Type != wire.TypeOK {
		t.Fatalf("PUT answered %v", r.Type)
	}
	return err
}

// TestPutFormsOpenRelay: a relay without a password takes PUT in both
// forms and ignores the password field, whatever it holds; a rest that
// is neither form is BAD_SIZE (spec/relay.md §7.2).
func TestPutFormsOpenRelay(t *testing.T) {
	tr := startRelay(t)
	c := tr.dial(t)
	ctx := tctx(t)
	short := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{1}, Seconds: 60, Body: body(1024, 1)}
	if err := putRaw(t, c, short); err != nil {
		t.Fatalf("short form: %v", err)
	}
	long := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{2}, Seconds: 60, Body: body(4096, 2),
		Cap: wire.PutPassword(tr.addr.Fingerprint, []byte("anything")), PutHasPassword: true}
	if err := putRaw(t, c, long); err != nil {
		t.Fatalf("long form: %v", err)
	}
	for id, want := range map[byte][]byte{1: short.Body, 2: long.Body} {
		if got, err := c.Take(ctx, crypto.ID{id}); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("TAKE %d: %v", id, err)
		}
	}
	neither := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{3}, Seconds: 60, Body: body(1024+wire.PutPasswordSize-1, 3)}
	wantCode(t, putRaw(t, c, neither), wire.CodeBadSize)
}

// TestPutFormsPrivateRelay: a relay with a password takes only the long
// form with its password. A short-form PUT, as a client from before the
// field sends, is PASSWORD, and so is a long form with a wrong password;
// a rest that is neither form is BAD_SIZE, password or not.
func TestPutFormsPrivateRelay(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Password = []byte("group secret") })
	c := tr.dial(t)
	short := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{1}, Seconds: 60, Body: body(1024, 1)}
	wantCode(t, putRaw(t, c, short), wire.CodePassword)
	long := short
	long.PutHasPassword = true
	wantCode(t, putRaw(t, c, long), wire.CodePassword) // all zero
	long.Cap = wire.PutPassword(tr.addr.Fingerprint, []byte("wrong"))
	wantCode(t, putRaw(t, c, long), wire.CodePassword)
	other := tr.addr.Fingerprint
	other[0] ^= 1
	long.Cap = wire.PutPassword(other, []byte("group secret")) // another relay's
	wantCode(t, putRaw(t, c, long), wire.CodePassword)
	neither := short
	pw := wire.PutPassword(tr.addr.Fingerprint, []byte("group secret"))
	neither.Body = append(bytes.Clone(pw[:wire.PutPasswordSize]), body(1000, 1)...) // the password, then no bucket
	wantCode(t, putRaw(t, c, neither), wire.CodeBadSize)
	long.Cap = wire.PutPassword(tr.addr.Fingerprint, []byte("group secret"))
	if err := putRaw(t, c, long); err != nil {
		t.Fatalf("long form with the password: %v", err)
	}
	// conn.Conn.Put: short without a password, long with one; a lifetime
	// over the maximum stays BAD_SIZE though the short retry is PASSWORD.
	ctx := tctx(t)
	wantCode(t, c.Put(ctx, crypto.ID{2}, time.Hour, nil, body(1024, 2)), wire.CodePassword)
	wantCode(t, c.Put(ctx, crypto.ID{2}, 8*24*time.Hour, []byte("group secret"), body(1024, 2)), wire.CodeBadSize)
	if err := c.Put(ctx, crypto.ID{2}, time.Hour, []byte("group secret"), body(1024, 2)); err != nil {
		t.Fatal(err)
	}
}

// TestPutOldPrivateRelay: a private relay older than PUT's password
// field answers a long-form PUT BAD_SIZE (its rest is no bucket) and
// takes the short form; conn.Conn.Put falls back to it once and the blob
// is stored.
func TestPutOldPrivateRelay(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Password, c.NoPutPassword = []byte("group secret"), true })
	c := tr.dial(t)
	ctx := tctx(t)
	long := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{1}, Seconds: 60, Body: body(1024, 1),
		Cap: wire.PutPassword(tr.addr.Fingerprint, []byte("group secret")), PutHasPassword: true}
	wantCode(t, putRaw(t, c, long), wire.CodeBadSize)
	if err := c.Put(ctx, crypto.ID{1}, time.Hour, []byte("group secret"), body(1024, 1)); err != nil {
		t.Fatalf("PUT with fallback: %v", err)
	}
	if got, err := tr.dial(t).Take(ctx, crypto.ID{1}); err != nil || got[0] != 1 {
		t.Fatalf("TAKE: %v", err)
	}
	wantCode(t, c.Put(ctx, crypto.ID{2}, 8*24*time.Hour, []byte("group secret"), body(1024, 2)), wire.CodeBadSize)
}
