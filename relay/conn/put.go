package conn

import (
	"context"
	"errors"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

// Put stores a one-time blob for lifetime (whole seconds, §7.2 PUT).
// password is the relay's password, empty for a relay without one: with
// it the PUT is in the long form, else in the short form, which relays of
// every version take when they have no password (PutFrame, RetryPutShort).
func (c *Conn) Put(ctx context.Context, id crypto.ID, lifetime time.Duration, password, body []byte) error {
	f := PutFrame(c.fp, id, lifetime, password, body)
	return RetryPutShort(f, func(f *wire.Frame) error { return c.ok(ctx, f) })
}

// PutFrame is the PUT of body under id for lifetime (spec/relay.md
// §7.2) to the relay with fingerprint fp: in the long form, carrying
// wire.PutPassword of password, when password is not empty, and in the
// short form otherwise. Its CID is 0.
func PutFrame(fp wire.Fingerprint, id crypto.ID, lifetime time.Duration, password, body []byte) wire.Frame {
	f := wire.Frame{Type: wire.TypePUT, ID: id, Seconds: seconds(lifetime), Body: body}
	if len(password) > 0 {
		f.Cap = wire.PutPassword(fp, password)
		f.PutHasPassword = true
	}
	return f
}

// RetryPutShort runs put with send. A long-form PUT answered BAD_SIZE,
// which a relay older than PUT's password field answers to any long form
// and which executes nothing, is sent once more in the short form
// (spec/relay.md §7.2). If that is answered PASSWORD, the relay knows the
// field and refused the long form for another reason (its lifetime): the
// first error is returned.
func RetryPutShort(put wire.Frame, send func(*wire.Frame) error) error {
	err := send(&put)
	if !put.PutHasPassword || !errors.Is(err, &wire.Error{Code: wire.CodeBadSize}) {
		return err
	}
	short := put
	short.PutHasPassword, short.Cap = false, [wire.CapSize]byte{}
	if err2 := send(&short); !errors.Is(err2, &wire.Error{Code: wire.CodePassword}) {
		return err2
	}
	return err
}
