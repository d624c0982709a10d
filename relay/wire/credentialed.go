package wire

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"veil/crypto"
)

// passwordSep separates a relay address from its password in the
// credentialed form (spec/relay.md §3.5). It is outside base64url and is
// neither "." nor "#", which the invite key's parser looks for.
const passwordSep = "~"

// Password is a relay password (spec/relay.md §7.2, §11): 1 to MaxPassword
// bytes that NEW and LNEW carry. It must be kept secret: whoever holds it
// may use the relay's storage. Every fmt verb prints "password(redacted)"
// and MarshalJSON refuses, so a password reaches text only through
// Credentialed.Secret or an explicit encoding.
type Password []byte

const redactedPassword = "password(redacted)"

func (Password) String() string   { return redactedPassword }
func (Password) GoString() string { return redactedPassword }

// Format prints the redacted form whatever the verb.
func (Password) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedPassword)) }

// MarshalJSON refuses: a password is encoded only on purpose.
func (Password) MarshalJSON() ([]byte, error) {
	return nil, errors.New("wire: a relay password is not marshalled to JSON")
}

// Equal reports in constant time whether p and q are the same password.
func (p Password) Equal(q Password) bool { return crypto.Equal(p, q) }

// ParsePassword decodes the unpadded base64url form of a password, as it
// stands after "~" in a credentialed address.
func ParsePassword(s string) (Password, error) {
	if len(s) == 0 || len(s) > base64.RawURLEncoding.EncodedLen(MaxPassword) {
		return nil, malformed("relay password must be 1-%d bytes", MaxPassword)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, malformed("relay password is not unpadded base64url")
	}
	if len(b) == 0 || len(b) > MaxPassword {
		return nil, malformed("relay password must be 1-%d bytes", MaxPassword)
	}
	return Password(b), nil
}

// Encode returns the unpadded base64url form of p. The result is as secret
// as p.
func (p Password) Encode() string { return base64.RawURLEncoding.EncodeToString(p) }

// Credentialed is a relay address with the password its NEW and LNEW need,
// if any (spec/relay.md §3.5). String and every fmt verb give the canonical
// address alone; Secret is the one way to the text with the password.
type Credentialed struct {
	Address
	Password Password // empty: the relay needs none, or it is not known
}

// ParseCredentialed parses a relay address in either form: canonical (or
// a variant ParseAddress reads) or credentialed, ADDRESS "~" base64url
// (password).
func ParseCredentialed(s string) (Credentialed, error) {
	if len(s) > MaxAddress+1+base64.RawURLEncoding.EncodedLen(MaxPassword) {
		return Credentialed{}, malformed("relay address too long")
	}
	addr, pw, has := strings.Cut(s, passwordSep)
	a, err := ParseAddress(addr)
	if err != nil {
		return Credentialed{}, err
	}
	c := Credentialed{Address: a}
	if has {
		if c.Password, err = ParsePassword(pw); err != nil {
			return Credentialed{}, err
		}
	}
	return c, nil
}

// String returns the canonical address (§3.4), never the password.
func (c Credentialed) String() string { return c.Address.String() }

// GoString is the redacted Go form.
func (c Credentialed) GoString() string {
	return "wire.Credentialed{" + c.Address.String() + ", " + redactedPassword + "}"
}

// Format prints the canonical address for every verb but %#v, which
// prints GoString.
func (c Credentialed) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(c.GoString()))
		return
	}
	_, _ = f.Write([]byte(c.Address.String()))
}

// MarshalJSON refuses, as Password's does.
func (Credentialed) MarshalJSON() ([]byte, error) {
	return nil, errors.New("wire: a credentialed relay address is not marshalled to JSON")
}

// Secret returns the credentialed text form, CANONICAL "~" base64url
// (password), or the canonical form when there is no password. It is the
// only producer of that text; the result is as secret as the password.
func (c Credentialed) Secret() string {
	if len(c.Password) == 0 {
		return c.Address.String()
	}
	return c.Address.String() + passwordSep + c.Password.Encode()
}

// ChunkPassword is what CPUT and CROOM carry for the relay password p of
// the relay with fingerprint fp (spec/relay.md §7.7):
// SHA-256("veil-relay/v1/chunk password" || fp || p), all zero for an
// empty p. A fixed size keeps a CPUT within one item when forwarded and
// hides the password's length; the fingerprint makes the value good for
// that relay only, so a relay that learns it cannot use it on another
// relay with the same password.
func ChunkPassword(fp Fingerprint, p []byte) [CapSize]byte {
	if len(p) == 0 {
		return [CapSize]byte{}
	}
	return crypto.Hash([]byte(chunkPasswordLabel), fp[:], p)
}

// PutPassword is what a long-form PUT carries for the relay password p
// of the relay with fingerprint fp (spec/relay.md §7.2): the first
// PutPasswordSize bytes of ChunkPassword, in a CapSize array whose last
// bytes are zero (Frame.Cap), all zero for an empty p. A client without
// a password sends the short form instead (Frame.PutHasPassword false).
func PutPassword(fp Fingerprint, p []byte) [CapSize]byte {
	pw := ChunkPassword(fp, p)
	clear(pw[PutPasswordSize:])
	return pw
}

const chunkPasswordLabel = "veil-relay/v1/chunk password"
