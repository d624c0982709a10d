package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"veil/crypto"
)

// Type is an item type (spec/relay.md §7.2, §7.3).
type Type byte

// Commands (§7.2).
const (
	TypeNEW     Type = 0x01
	TypeSKEY    Type = 0x02
	TypeSEND    Type = 0x03
	TypeSUB     Type = 0x04
	TypeACK     Type = 0x05
	TypeDEL     Type = 0x06
	TypeOFF     Type = 0x07
	TypePUT     Type = 0x08
	TypeTAKE    Type = 0x09
	TypeLNEW    Type = 0x0a
	TypeLAPPEND Type = 0x0b
	TypeLREAD   Type = 0x0c
	TypeLDEL    Type = 0x0d
	TypePING    Type = 0x0e
	TypeLSUB    Type = 0x0f
	TypeLUNSUB  Type = 0x10
	TypeFKEY    Type = 0x11 // §7.6
	TypeFWD     Type = 0x12 // §7.6
	TypeRFWD    Type = 0x13 // §7.6
	TypeCPUT    Type = 0x14 // §7.7
	TypeCGET    Type = 0x15 // §7.7
	TypeCDEL    Type = 0x16 // §7.7
	TypeCROOM   Type = 0x17 // §7.7
)

// Replies and pushes (§7.3).
const (
	TypeOK      Type = 0x80
	TypeERR     Type = 0x81
	TypeIDS     Type = 0x82
	TypeBLOB    Type = 0x83
	TypeLID     Type = 0x84
	TypeSEQ     Type = 0x85
	TypeENTRIES Type = 0x86
	TypeMSG     Type = 0x87
	TypeEND     Type = 0x88
	TypeLNOTE   Type = 0x89
	TypeFKEYS   Type = 0x8a // §7.6
	TypeFRES    Type = 0x8b // §7.6
	TypeCHUNK   Type = 0x8c // §7.7
)

// IsCommand reports whether t is a client → relay type.
func (t Type) IsCommand() bool { return t >= TypeNEW && t <= TypeCROOM }

// IsPush reports whether t is pushed by the relay without a command.
func (t Type) IsPush() bool { return t == TypeMSG || t == TypeEND || t == TypeLNOTE }

// Signed reports whether items of type t end with a recipient signature (§7.4).
func (t Type) Signed() bool { return t == TypeNEW || t == TypeSUB || t == TypeDEL }

// String returns the spec's name of t.
func (t Type) String() string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	return fmt.Sprintf("TYPE_0x%02x", byte(t))
}

// Entry is one log entry in an ENTRIES reply.
type Entry struct {
	Seq  uint64
	Body []byte
}

// Frame is one item: a command, reply or push. Which fields are used
// depends on Type, as the comments say; the others are ignored by
// AppendFrame and zero after ParseFrame.
type Frame struct {
	Type Type
	CID  uint32

	// ID is the recipient ID (SUB ACK DEL OFF MSG END, and IDS), the
	// sender ID (SKEY SEND), the blob ID (PUT TAKE), the log ID
	// (LAPPEND LREAD LDEL LID LSUB LUNSUB LNOTE) or the chunk ID (CPUT
	// CGET CDEL).
	ID crypto.ID
	// SenderID is IDS's sender ID.
	SenderID crypto.ID
	// Key is NEW's recipient key.
	Key crypto.SignPublic
	// Cap is SEND's sender capability, SKEY's capability hash, LAPPEND's
	// and LDEL's write capability, LREAD's and LSUB's read capability, or
	// LNEW's write-capability hash, CGET's read capability, CDEL's
	// delete capability, or CPUT's and CROOM's chunk password
	// (ChunkPassword), or a long-form PUT's password in its first
	// PutPasswordSize bytes (PutPassword; the rest is not sent). It must
	// be kept secret where it is a capability or a password.
	Cap [CapSize]byte
	// PutHasPassword says a PUT is in the long form (§7.2): its password
	// field, Cap[:PutPasswordSize], comes before its body, which must
	// then be a bucket (§6). Otherwise the PUT is in the short form,
	// without the field, and Cap is not sent.
	PutHasPassword bool
	// ReadCap is LNEW's and CPUT's read-capability hash.
	ReadCap [CapSize]byte
	// DelCap is CPUT's delete-capability hash.
	DelCap [CapSize]byte
	// Seq is ACK's, MSG's, SEQ's and LNOTE's sequence number, or LREAD's
	// and LSUB's cursor.
	Seq uint64
	// Seconds is PUT's, CPUT's and CROOM's lifetime or LNEW's TTL.
	Seconds uint32
	// Count is CROOM's number of chunks.
	Count uint32
	// Limit is LREAD's limit.
	Limit uint16
	// Code is ERR's error code.
	Code Code
	// Password is NEW's and LNEW's relay password (at most MaxPassword).
	Password []byte
	// Sig is the recipient signature of NEW, SUB and DEL (§7.4).
	Sig [SigSize]byte
	// Dest is FKEY's destination relay address in its canonical text
	// form (§3.4), empty for "this relay" (§7.6); at most MaxDest bytes.
	Dest []byte
	// Route is FWD's and FKEYS's route ID (§7.6).
	Route [RouteIDSize]byte
	// Ephemeral is FWD's and RFWD's ephemeral X25519 key (§7.6).
	Ephemeral crypto.DHPublic
	// ForwardKey is FKEYS's forward key; Key is then the destination's
	// identity key and Sig its signature of the forward key (§7.6).
	ForwardKey crypto.DHPublic
	// NotAfter is RFWD's and FKEYS's forward-key expiry, Unix seconds (§7.6).
	NotAfter uint64
	// Body is the body of SEND PUT LAPPEND BLOB MSG CPUT CHUNK, and the sealed part
	// of FWD RFWD FRES (§7.6).
	Body []byte
	// Entries are ENTRIES's entries.
	Entries []Entry
}

// String describes the frame without any ID, key, capability or byte of
// a body, so a Frame is safe to log.
func (f *Frame) String() string {
	return fmt.Sprintf("%v(cid=%d)", f.Type, f.CID)
}

type field byte

const (
	fID field = iota
	fSenderID
	fKey
	fCap
	fPutBody // PUT's optional password, Cap[:PutPasswordSize], and body (§7.2)
	fReadCap
	fDelCap
	fCount
	fSeq
	fSeconds
	fLimit
	fCode
	fPassword
	fSig
	fDest
	fRoute
	fEphemeral
	fForwardKey
	fNotAfter
	fBody    // rest of the item
	fEntries // rest of the item
)

type layout struct {
	name   string
	fields []field
}

var layouts = map[Type]layout{
	TypeNEW:     {"NEW", []field{fKey, fPassword, fSig}},
	TypeSKEY:    {"SKEY", []field{fID, fCap}},
	TypeSEND:    {"SEND", []field{fID, fCap, fBody}},
	TypeSUB:     {"SUB", []field{fID, fSig}},
	TypeACK:     {"ACK", []field{fID, fSeq}},
	TypeDEL:     {"DEL", []field{fID, fSig}},
	TypeOFF:     {"OFF", []field{fID}},
	TypePUT:     {"PUT", []field{fID, fSeconds, fPutBody}},
	TypeTAKE:    {"TAKE", []field{fID}},
	TypeLNEW:    {"LNEW", []field{fCap, fReadCap, fSeconds, fPassword}},
	TypeLAPPEND: {"LAPPEND", []field{fID, fCap, fBody}},
	TypeLREAD:   {"LREAD", []field{fID, fCap, fSeq, fLimit}},
	TypeLDEL:    {"LDEL", []field{fID, fCap}},
	TypePING:    {"PING", nil},
	TypeLSUB:    {"LSUB", []field{fID, fCap, fSeq}},
	TypeLUNSUB:  {"LUNSUB", []field{fID}},
	TypeFKEY:    {"FKEY", []field{fPassword, fDest}},
	TypeFWD:     {"FWD", []field{fRoute, fEphemeral, fBody}},
	TypeRFWD:    {"RFWD", []field{fNotAfter, fEphemeral, fBody}},
	TypeCPUT:    {"CPUT", []field{fID, fReadCap, fDelCap, fSeconds, fCap, fBody}},
	TypeCGET:    {"CGET", []field{fID, fCap}},
	TypeCDEL:    {"CDEL", []field{fID, fCap}},
	TypeCROOM:   {"CROOM", []field{fCount, fSeconds, fCap}},
	TypeOK:      {"OK", nil},
	TypeERR:     {"ERR", []field{fCode}},
	TypeIDS:     {"IDS", []field{fID, fSenderID}},
	TypeBLOB:    {"BLOB", []field{fBody}},
	TypeLID:     {"LID", []field{fID}},
	TypeSEQ:     {"SEQ", []field{fSeq}},
	TypeENTRIES: {"ENTRIES", []field{fEntries}},
	TypeMSG:     {"MSG", []field{fID, fSeq, fBody}},
	TypeEND:     {"END", []field{fID}},
	TypeLNOTE:   {"LNOTE", []field{fID, fSeq}},
	TypeFKEYS:   {"FKEYS", []field{fRoute, fKey, fForwardKey, fNotAfter, fSig}},
	TypeFRES:    {"FRES", []field{fBody}},
	TypeCHUNK:   {"CHUNK", []field{fBody}},
}

var fixedSize = [...]int{
	fID: IDSize, fSenderID: IDSize, fKey: 32, fCap: CapSize, fReadCap: CapSize, fDelCap: CapSize, fCount: 4,
	fSeq: 8, fSeconds: 4, fLimit: 2, fCode: 2, fSig: SigSize,
	fRoute: RouteIDSize, fEphemeral: 32, fForwardKey: 32, fNotAfter: 8,
}

// Size returns the encoded size of f, or an error when f cannot be encoded
// (unknown type, password or entries too long, item over MaxItemSize).
func (f *Frame) Size() (int, error) {
	l, ok := layouts[f.Type]
	if !ok {
		return 0, fmt.Errorf("wire: cannot encode unknown type 0x%02x", byte(f.Type))
	}
	n := headerSize
	for _, fl := range l.fields {
		switch fl {
		case fPassword:
			if len(f.Password) > MaxPassword {
				return 0, fmt.Errorf("wire: password longer than %d bytes", MaxPassword)
			}
			n += 1 + len(f.Password)
		case fDest:
			if len(f.Dest) > MaxDest {
				return 0, fmt.Errorf("wire: destination longer than %d bytes", MaxDest)
			}
			n += 2 + len(f.Dest)
		case fBody:
			n += len(f.Body)
		case fPutBody:
			if f.PutHasPassword {
				if !IsBucket(len(f.Body)) {
					return 0, fmt.Errorf("wire: a PUT with a password has a body of %d bytes, not a bucket", len(f.Body))
				}
				n += PutPasswordSize
			}
			n += len(f.Body)
		case fEntries:
			if len(f.Entries) > 0xffff {
				return 0, fmt.Errorf("wire: too many entries")
			}
			n += 2
			for _, e := range f.Entries {
				if len(e.Body) > 0xffff {
					return 0, fmt.Errorf("wire: entry body too long")
				}
				n += 8 + 2 + len(e.Body)
			}
		default:
			n += fixedSize[fl]
		}
	}
	if n > MaxItemSize {
		return 0, fmt.Errorf("wire: %v item is %d bytes, more than %d", f.Type, n, MaxItemSize)
	}
	return n, nil
}

// AppendFrame appends the encoding of f (§7) to dst.
func AppendFrame(dst []byte, f *Frame) ([]byte, error) {
	n, err := f.Size()
	if err != nil {
		return dst, err
	}
	return f.appendTo(slices.Grow(dst, n)), nil
}

// appendTo encodes f, which Size has accepted.
func (f *Frame) appendTo(b []byte) []byte {
	b = append(b, byte(f.Type))
	b = binary.BigEndian.AppendUint32(b, f.CID)
	for _, fl := range layouts[f.Type].fields {
		switch fl {
		case fID:
			b = append(b, f.ID[:]...)
		case fSenderID:
			b = append(b, f.SenderID[:]...)
		case fKey:
			b = append(b, f.Key[:]...)
		case fCap:
			b = append(b, f.Cap[:]...)
		case fReadCap:
			b = append(b, f.ReadCap[:]...)
		case fDelCap:
			b = append(b, f.DelCap[:]...)
		case fCount:
			b = binary.BigEndian.AppendUint32(b, f.Count)
		case fSeq:
			b = binary.BigEndian.AppendUint64(b, f.Seq)
		case fSeconds:
			b = binary.BigEndian.AppendUint32(b, f.Seconds)
		case fLimit:
			b = binary.BigEndian.AppendUint16(b, f.Limit)
		case fCode:
			b = binary.BigEndian.AppendUint16(b, uint16(f.Code))
		case fPassword:
			b = append(b, byte(len(f.Password)))
			b = append(b, f.Password...)
		case fSig:
			b = append(b, f.Sig[:]...)
		case fDest:
			b = binary.BigEndian.AppendUint16(b, uint16(len(f.Dest)))
			b = append(b, f.Dest...)
		case fRoute:
			b = append(b, f.Route[:]...)
		case fEphemeral:
			b = append(b, f.Ephemeral[:]...)
		case fForwardKey:
			b = append(b, f.ForwardKey[:]...)
		case fNotAfter:
			b = binary.BigEndian.AppendUint64(b, f.NotAfter)
		case fBody:
			b = append(b, f.Body...)
		case fPutBody:
			if f.PutHasPassword {
				b = append(b, f.Cap[:PutPasswordSize]...)
			}
			b = append(b, f.Body...)
		case fEntries:
			b = binary.BigEndian.AppendUint16(b, uint16(len(f.Entries)))
			for _, e := range f.Entries {
				b = binary.BigEndian.AppendUint64(b, e.Seq)
				b = binary.BigEndian.AppendUint16(b, uint16(len(e.Body)))
				b = append(b, e.Body...)
			}
		}
	}
	return b
}

// PeekHeader returns the type and correlation ID of an item, if it has a
// full header, so that a relay can address an ERR to an item it cannot
// parse (§5.2).
func PeekHeader(item []byte) (Type, uint32, bool) {
	if len(item) < headerSize {
		return 0, 0, false
	}
	return Type(item[0]), binary.BigEndian.Uint32(item[1:]), true
}

// ParseFrame decodes one item. It accepts exactly the encodings
// AppendFrame produces, so ParseFrame followed by AppendFrame gives back
// the input. Body, Password and entry bodies alias item.
func ParseFrame(item []byte) (Frame, error) {
	var f Frame
	if len(item) < headerSize {
		return f, malformed("item of %d bytes has no header", len(item))
	}
	if len(item) > MaxItemSize {
		return f, malformed("item of %d bytes is too long", len(item))
	}
	f.Type = Type(item[0])
	f.CID = binary.BigEndian.Uint32(item[1:])
	l, ok := layouts[f.Type]
	if !ok {
		return Frame{Type: f.Type, CID: f.CID}, fmt.Errorf("%w: unknown type 0x%02x", errUnknownType, byte(f.Type))
	}
	b := item[headerSize:]
	for _, fl := range l.fields {
		switch fl {
		case fPassword:
			if len(b) < 1 || len(b) < 1+int(b[0]) {
				return Frame{}, malformed("%v: truncated password", f.Type)
			}
			n := int(b[0])
			if n > 0 {
				f.Password = b[1 : 1+n : 1+n]
			}
			b = b[1+n:]
		case fDest:
			if len(b) < 2 {
				return Frame{}, malformed("%v: truncated destination", f.Type)
			}
			n := int(binary.BigEndian.Uint16(b))
			if n > MaxDest || len(b) < 2+n {
				return Frame{}, malformed("%v: bad destination length", f.Type)
			}
			if n > 0 {
				f.Dest = b[2 : 2+n : 2+n]
			}
			b = b[2+n:]
		case fBody:
			if len(b) > 0 {
				f.Body = b[:len(b):len(b)]
			}
			b = nil
		case fPutBody:
			// The form by length (§7.2): a rest that is PutPasswordSize
			// more than a bucket is the long form; any other rest is the
			// body, which the relay refuses unless it is a bucket. No two
			// buckets differ by PutPasswordSize, so no rest is both.
			if !IsBucket(len(b)) && len(b) >= PutPasswordSize && IsBucket(len(b)-PutPasswordSize) {
				f.PutHasPassword = true
				copy(f.Cap[:], b[:PutPasswordSize])
				b = b[PutPasswordSize:]
			}
			if len(b) > 0 {
				f.Body = b[:len(b):len(b)]
			}
			b = nil
		case fEntries:
			es, err := parseEntries(b)
			if err != nil {
				return Frame{}, err
			}
			f.Entries = es
			b = nil
		default:
			n := fixedSize[fl]
			if len(b) < n {
				return Frame{}, malformed("%v: truncated", f.Type)
			}
			v := b[:n]
			b = b[n:]
			switch fl {
			case fID:
				f.ID = crypto.ID(v)
			case fSenderID:
				f.SenderID = crypto.ID(v)
			case fKey:
				f.Key = crypto.SignPublic(v)
			case fCap:
				f.Cap = [CapSize]byte(v)
			case fReadCap:
				f.ReadCap = [CapSize]byte(v)
			case fDelCap:
				f.DelCap = [CapSize]byte(v)
			case fCount:
				f.Count = binary.BigEndian.Uint32(v)
			case fSeq:
				f.Seq = binary.BigEndian.Uint64(v)
			case fSeconds:
				f.Seconds = binary.BigEndian.Uint32(v)
			case fLimit:
				f.Limit = binary.BigEndian.Uint16(v)
			case fCode:
				f.Code = Code(binary.BigEndian.Uint16(v))
			case fSig:
				f.Sig = [SigSize]byte(v)
			case fRoute:
				f.Route = [RouteIDSize]byte(v)
			case fEphemeral:
				f.Ephemeral = crypto.DHPublic(v)
			case fForwardKey:
				f.ForwardKey = crypto.DHPublic(v)
			case fNotAfter:
				f.NotAfter = binary.BigEndian.Uint64(v)
			}
		}
	}
	if len(b) != 0 {
		return Frame{}, malformed("%v: %d trailing bytes", f.Type, len(b))
	}
	return f, nil
}

func parseEntries(b []byte) ([]Entry, error) {
	if len(b) < 2 {
		return nil, malformed("ENTRIES: truncated count")
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > len(b)/10 {
		return nil, malformed("ENTRIES: %d entries cannot fit", n)
	}
	es := make([]Entry, 0, n)
	for i := 0; i < n; i++ {
		if len(b) < 10 {
			return nil, malformed("ENTRIES: entry %d truncated", i)
		}
		e := Entry{Seq: binary.BigEndian.Uint64(b)}
		l := int(binary.BigEndian.Uint16(b[8:]))
		b = b[10:]
		if len(b) < l {
			return nil, malformed("ENTRIES: entry %d body truncated", i)
		}
		if l > 0 {
			e.Body = b[:l:l]
		}
		b = b[l:]
		es = append(es, e)
	}
	if len(b) != 0 {
		return nil, malformed("ENTRIES: %d trailing bytes", len(b))
	}
	return es, nil
}

// errUnknownType is returned (wrapped) for an unknown item type, which
// the relay answers with UNKNOWN rather than MALFORMED (§10).
var errUnknownType = errors.New("wire: unknown item type")

// IsUnknownType reports whether err came from an unknown item type.
func IsUnknownType(err error) bool { return errors.Is(err, errUnknownType) }

// SignedMessage returns what a recipient signs for a signed command
// (§7.4): the label, the connection nonce and the item without its last
// SigSize bytes. item must be at least SigSize bytes long.
func SignedMessage(nonce *[NonceSize]byte, item []byte) []byte {
	body := item[:len(item)-SigSize]
	m := make([]byte, 0, len(cmdLabel)+NonceSize+len(body))
	m = append(m, cmdLabel...)
	m = append(m, nonce[:]...)
	return append(m, body...)
}

// SignFrame sets f.Sig to k's signature of f bound to the connection
// nonce (§7.4). f's type must be a signed type.
func SignFrame(f *Frame, nonce *[NonceSize]byte, k crypto.SignPrivate) error {
	if !f.Type.Signed() {
		return fmt.Errorf("wire: %v is not a signed command", f.Type)
	}
	f.Sig = [SigSize]byte{}
	b, err := AppendFrame(nil, f)
	if err != nil {
		return err
	}
	copy(f.Sig[:], k.Sign(SignedMessage(nonce, b)))
	return nil
}

// VerifyItem reports whether the raw signed item carries pub's signature
// bound to nonce (§7.4).
func VerifyItem(item []byte, nonce *[NonceSize]byte, pub crypto.SignPublic) bool {
	if len(item) < headerSize+SigSize {
		return false
	}
	return crypto.Verify(pub, SignedMessage(nonce, item), item[len(item)-SigSize:])
}
