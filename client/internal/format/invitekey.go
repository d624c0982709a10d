package format

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
)

// Labels of spec/client.md §2 and §3. Every derivation from the invite
// secret has its own label.
const (
	labelChecksum = "veil-client/v1/invite checksum"
	labelBlobID   = "veil-client/v1/invite blob id"
	labelBlobKey  = "veil-client/v1/invite blob key"
	labelAlarmID  = "veil-client/v1/invite alarm id"
	labelAlarmKey = "veil-client/v1/invite alarm key"
	LabelBlobAD   = "veil-client/v1/invite blob"
	LabelAlarmAD  = "veil-client/v1/invite alarm"

	labelAlarmWrite   = "veil-client/v2/invite alarm log write"
	labelAlarmLogKey  = "veil-client/v2/invite alarm log key"
	LabelAlarmEntryAD = "veil-client/v2/invite alarm"
)

// Invite key sizes, spec/client.md §2.
const (
	inviteSecretSize = 32
	checksumSize     = 4
	blobVersion      = 1
	blobVersion2     = 2 // the inviter receives on two relays (§3.1)
)

// ErrBadInviteKey is returned for an invite key that does not parse or whose
// checksum is wrong (a typo).
var ErrBadInviteKey = errors.New("client: not a valid invite key (check for a typo)")

// inviteSecret is the random secret behind one invite key. It must be kept
// secret: whoever holds it can take the invite.
type inviteSecret [inviteSecretSize]byte

func (inviteSecret) String() string   { return "inviteSecret(redacted)" }
func (inviteSecret) GoString() string { return "inviteSecret(redacted)" }

// InviteKey is a parsed invite key: the relay holding the blob (with its
// password when it needs one), the secret and, in every key this version
// makes, the ID of the inviter's leak alarm log on that relay
// (spec/client.md §2.1, §4.4). A key without one is an older veil's.
//
// String is the key's text, which must be kept secret; every fmt verb
// prints only the relay's canonical address, so a key reaches text only
// through an explicit String call.
type InviteKey struct {
	Relay    wire.Credentialed
	Secret   inviteSecret
	HasAlarm bool
	AlarmLog crypto.ID
}

// String returns the text form: ADDRESS "." base64url(secret || alarm log
// ID || checksum), or without the alarm log ID for an older key
// (spec/client.md §2.1). ADDRESS is credentialed (spec/relay.md §3.5)
// when the relay has a password.
func (k *InviteKey) String() string {
	addr := k.Relay.Secret()
	body := append([]byte(nil), k.Secret[:]...)
	if k.HasAlarm {
		body = append(body, k.AlarmLog[:]...)
	}
	sum := inviteChecksum(addr, body)
	return addr + "." + base64.RawURLEncoding.EncodeToString(append(body, sum[:]...))
}

// Format prints the redacted form whatever the verb: the relay's canonical
// address, never the secret or the relay's password.
func (k InviteKey) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "InviteKey("+k.Relay.String()+", redacted)")
}

// inviteChecksum covers the address as the key writes it (credentialed
// when it has a password) and every byte of the key's
// tail before the checksum.
func inviteChecksum(addr string, body []byte) [checksumSize]byte {
	h := crypto.Hash([]byte(labelChecksum), []byte(addr), body)
	return [checksumSize]byte(h[:checksumSize])
}

// ParseInviteKey parses the text form, ignoring white space anywhere in
// it: around it, and the line breaks of a key copied off a screen that
// wrapped it.
func ParseInviteKey(s string) (*InviteKey, error) {
	if len(s) > 4096 {
		return nil, ErrBadInviteKey
	}
	s = strings.Join(strings.Fields(s), "")
	if len(s) > 1600 {
		return nil, ErrBadInviteKey
	}
	dot := strings.LastIndexByte(s, '.')
	hash := strings.LastIndexByte(s, '#')
	if dot < 0 || hash < 0 || dot < hash {
		return nil, ErrBadInviteKey
	}
	addrText := s[:dot]
	a, err := wire.ParseCredentialed(addrText)
	if err != nil {
		return nil, ErrBadInviteKey
	}
	tail, err := base64.RawURLEncoding.Strict().DecodeString(s[dot+1:])
	if err != nil || len(tail) != inviteSecretSize+checksumSize && len(tail) != inviteSecretSize+crypto.IDSize+checksumSize {
		return nil, ErrBadInviteKey
	}
	k := &InviteKey{Relay: a}
	copy(k.Secret[:], tail)
	body := tail[:len(tail)-checksumSize]
	if len(body) > inviteSecretSize {
		k.HasAlarm = true
		copy(k.AlarmLog[:], body[inviteSecretSize:])
	}
	// The checksum covers the canonical address with the password as
	// written, so an address written with an optional "/" still checks.
	sum := inviteChecksum(a.Secret(), body)
	if !crypto.Equal(sum[:], tail[len(body):]) {
		return nil, ErrBadInviteKey
	}
	return k, nil
}

// InviteIDs are what the invite secret derives (spec/client.md §2.2). The
// keys and capabilities must be kept secret.
type InviteIDs struct {
	BlobID  crypto.ID
	BlobKey crypto.SymKey
	// AlarmWrite and AlarmLogKey are the alarm log's write capability and
	// the key its entries are sealed under (§4.4).
	AlarmWrite  [wire.CapSize]byte
	AlarmLogKey crypto.SymKey
	// AlarmID and AlarmKey are the alarm blob of an older key, which has
	// no alarm log.
	AlarmID  crypto.ID
	AlarmKey crypto.SymKey
}

// DeriveInvite derives the blob and alarm IDs and keys of k.
func DeriveInvite(k *InviteKey) InviteIDs {
	return DeriveInviteSecret(k.Secret[:], k.Relay.Fingerprint[:])
}

// DeriveInviteSecret is DeriveInvite from a stored invite secret and the
// relay's fingerprint as salt.
func DeriveInviteSecret(secret, salt []byte) InviteIDs {
	var d InviteIDs
	crypto.HKDF(d.BlobID[:], secret, salt, labelBlobID)
	crypto.HKDF(d.BlobKey[:], secret, salt, labelBlobKey)
	crypto.HKDF(d.AlarmWrite[:], secret, salt, labelAlarmWrite)
	crypto.HKDF(d.AlarmLogKey[:], secret, salt, labelAlarmLogKey)
	crypto.HKDF(d.AlarmID[:], secret, salt, labelAlarmID)
	crypto.HKDF(d.AlarmKey[:], secret, salt, labelAlarmKey)
	return d
}

// InviteBlob is the plaintext of the one-time blob (spec/client.md §3).
type InviteBlob struct {
	Bundle   []byte    // ratchet.BundleSize bytes
	SID      crypto.ID // the inviter's reply mailbox, sender ID
	Deadline time.Time // the chat's deadline; zero = none
	Nick     string    // the nickname the inviter shows
	// Extra is the inviter's second reply mailbox, on another relay: a
	// blob with one is version 2, which older joiners refuse.
	Extra []BlobMailbox
	// Features are the inviter's feature bits (version 2 only).
	Features uint16
}

// BlobMailbox is a reply mailbox of the inviter beyond the invite key's
// relay: its relay address (with a password when the relay has one) and
// sender ID.
type BlobMailbox struct {
	Relay string
	SID   crypto.ID
}

// Marshal encodes b; it returns an error for a field out of range.
func (b *InviteBlob) Marshal() ([]byte, error) {
	if len(b.Bundle) != ratchet.BundleSize || len(b.Nick) > MaxNick || len(b.Extra) > MaxSlots-1 {
		return nil, errors.New("client: invite blob field out of range")
	}
	v2 := len(b.Extra) > 0
	out := []byte{blobVersion}
	if v2 {
		out[0] = blobVersion2
	}
	out = append(out, b.Bundle...)
	out = append(out, b.SID[:]...)
	if v2 {
		out = append(out, byte(len(b.Extra)))
		for _, m := range b.Extra {
			if m.Relay == "" || len(m.Relay) > maxBlobAddress {
				return nil, errors.New("client: invite blob relay address out of range")
			}
			out = binary.BigEndian.AppendUint16(out, uint16(len(m.Relay)))
			out = append(out, m.Relay...)
			out = append(out, m.SID[:]...)
		}
	}
	var dl uint64
	if !b.Deadline.IsZero() {
		dl = uint64(b.Deadline.Unix())
	}
	out = binary.BigEndian.AppendUint64(out, dl)
	out = append(out, byte(len(b.Nick)))
	out = append(out, b.Nick...)
	if v2 {
		out = binary.BigEndian.AppendUint16(out, b.Features)
	}
	return out, nil
}

// maxBlobAddress bounds a relay address in a version 2 blob: a canonical
// address and a password.
const maxBlobAddress = 1024

// ErrBlobVersion is returned for a blob of a later version than this
// client reads.
var ErrBlobVersion = errors.New("client: the invite needs a newer veil (unknown invite blob version)")

// ParseInviteBlob decodes a blob's plaintext strictly: version 1, or
// version 2 with the inviter's second mailbox and feature bits (§3.1).
func ParseInviteBlob(p []byte) (*InviteBlob, error) {
	bad := errors.New("client: malformed invite blob")
	fixed := 1 + ratchet.BundleSize + crypto.IDSize + 8 + 1
	if len(p) > 0 && p[0] > blobVersion2 {
		return nil, ErrBlobVersion
	}
	if len(p) < fixed || p[0] != blobVersion && p[0] != blobVersion2 {
		return nil, bad
	}
	v2 := p[0] == blobVersion2
	b := &InviteBlob{Bundle: append([]byte(nil), p[1:1+ratchet.BundleSize]...)}
	o := 1 + ratchet.BundleSize
	copy(b.SID[:], p[o:])
	o += crypto.IDSize
	if v2 {
		if len(p) < o+1 {
			return nil, bad
		}
		n := int(p[o])
		o++
		if n != 1 {
			return nil, bad
		}
		for range n {
			if len(p) < o+2 {
				return nil, bad
			}
			l := int(binary.BigEndian.Uint16(p[o:]))
			o += 2
			if l == 0 || l > maxBlobAddress || len(p) < o+l+crypto.IDSize {
				return nil, bad
			}
			m := BlobMailbox{Relay: string(p[o : o+l])}
			o += l
			if _, err := wire.ParseCredentialed(m.Relay); err != nil {
				return nil, bad
			}
			copy(m.SID[:], p[o:])
			o += crypto.IDSize
			b.Extra = append(b.Extra, m)
		}
		if len(p) < o+8+1+2 {
			return nil, bad
		}
	}
	dl := binary.BigEndian.Uint64(p[o:])
	o += 8
	if dl > 1<<40 {
		return nil, bad
	}
	if dl != 0 {
		b.Deadline = time.Unix(int64(dl), 0)
	}
	n := int(p[o])
	o++
	tail := 0
	if v2 {
		tail = 2
	}
	if len(p) != o+n+tail || n > MaxNick || !utf8.Valid(p[o:o+n]) {
		return nil, bad
	}
	b.Nick = string(p[o : o+n])
	if v2 {
		b.Features = binary.BigEndian.Uint16(p[o+n:])
	}
	return b, nil
}

// SealBlob pads plaintext so that the sealed result is exactly one of
// crypto.Buckets (spec/client.md §3.2) and seals it under key.
func SealBlob(key *crypto.SymKey, id crypto.ID, pt []byte, ad string, r io.Reader) ([]byte, error) {
	inner := make([]int, len(crypto.Buckets()))
	for i, b := range crypto.Buckets() {
		inner[i] = b - crypto.SealedXSize
	}
	padded, err := crypto.Pad(nil, pt, inner)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return crypto.SealX(nil, key, padded, append([]byte(ad), id[:]...), r)
}

// OpenBlob opens a blob that SealBlob sealed and removes its padding.
func OpenBlob(key *crypto.SymKey, id crypto.ID, body []byte, ad string) ([]byte, error) {
	if !wire.IsBucket(len(body)) {
		return nil, errors.New("client: invite blob has a bad size")
	}
	padded, err := crypto.OpenX(nil, key, body, append([]byte(ad), id[:]...))
	if err != nil {
		return nil, errors.New("client: invite blob does not open (wrong key or damaged)")
	}
	return crypto.Unpad(padded)
}
