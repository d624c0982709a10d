package wire

import (
	"encoding/binary"

	"veil/crypto"
)

// Suite is the AEAD of the transport blocks (spec/relay.md §4.1, §5.1).
type Suite = crypto.BlockCipher

// The suites, as numbered in the hellos, and their bits in a relay's offer.
const (
	SuiteAES256GCM        = crypto.BlockAES256GCM
	SuiteChaCha20Poly1305 = crypto.BlockChaCha20Poly1305
)

// Offer is the set of suites a relay accepts: bit (s-1) for suite s.
type Offer uint8

// Has reports whether the offer contains s.
func (o Offer) Has(s Suite) bool { return s >= 1 && s <= 8 && o&(1<<(s-1)) != 0 }

// Known is the offer of every suite this code speaks.
const Known Offer = 1<<(SuiteAES256GCM-1) | 1<<(SuiteChaCha20Poly1305-1)

// OfferOf returns the offer of the given suites.
func OfferOf(s ...Suite) Offer {
	var o Offer
	for _, x := range s {
		o |= 1 << (x - 1)
	}
	return o
}

// DefaultOffer is what a relay on this machine offers (§4.1): both
// suites where the CPU has AES instructions, else ChaCha20-Poly1305 only,
// so that a relay never runs table-based AES.
func DefaultOffer() Offer {
	if crypto.HasAESHardware() {
		return OfferOf(SuiteAES256GCM, SuiteChaCha20Poly1305)
	}
	return OfferOf(SuiteChaCha20Poly1305)
}

// ChooseSuite is the client's choice of §4.2: AES-256-GCM when the relay
// offers it and this CPU has AES instructions, else ChaCha20-Poly1305
// when offered, else AES-256-GCM when offered; false when the offer
// holds no suite this client speaks.
func ChooseSuite(o Offer, aesHardware bool) (Suite, bool) {
	switch {
	case aesHardware && o.Has(SuiteAES256GCM):
		return SuiteAES256GCM, true
	case o.Has(SuiteChaCha20Poly1305):
		return SuiteChaCha20Poly1305, true
	case o.Has(SuiteAES256GCM):
		return SuiteAES256GCM, true
	}
	return 0, false
}

// RelayHello is the relay's first message (spec/relay.md §4.1).
type RelayHello struct {
	MinVersion uint16
	MaxVersion uint16
	BlockSize  uint32
	Nonce      [NonceSize]byte
	Identity   crypto.SignPublic
	Ephemeral  crypto.DHPublic
	Suites     Offer
	Sig        [SigSize]byte
}

// signedBytes returns the message the relay signs (§4.1).
func (h *RelayHello) signedBytes() []byte {
	b := make([]byte, 0, len(helloLabel)+RelayHelloSize)
	b = append(b, helloLabel...)
	b = h.appendUnsigned(b)
	return b
}

func (h *RelayHello) appendUnsigned(b []byte) []byte {
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint16(b, h.MinVersion)
	b = binary.BigEndian.AppendUint16(b, h.MaxVersion)
	b = binary.BigEndian.AppendUint32(b, h.BlockSize)
	b = append(b, h.Nonce[:]...)
	b = append(b, h.Identity[:]...)
	b = append(b, h.Ephemeral[:]...)
	return append(b, byte(h.Suites))
}

// Sign sets Identity to k's public key and Sig to k's signature.
func (h *RelayHello) Sign(k crypto.SignPrivate) {
	h.Identity = k.Public()
	copy(h.Sig[:], k.Sign(h.signedBytes()))
}

// Verify reports whether Sig is Identity's signature of the hello. It does
// not check the fingerprint: see CheckRelayHello.
func (h *RelayHello) Verify() bool {
	return crypto.Verify(h.Identity, h.signedBytes(), h.Sig[:])
}

// Marshal returns the RelayHelloSize-byte encoding.
func (h *RelayHello) Marshal() []byte {
	b := make([]byte, 0, RelayHelloSize)
	b = h.appendUnsigned(b)
	return append(b, h.Sig[:]...)
}

// ParseRelayHello decodes a relay hello. It checks only the layout; the
// client then calls CheckRelayHello.
func ParseRelayHello(b []byte) (RelayHello, error) {
	var h RelayHello
	if len(b) != RelayHelloSize {
		return h, malformed("relay hello is %d bytes, want %d", len(b), RelayHelloSize)
	}
	if [4]byte(b[:4]) != magic {
		return h, malformed("relay hello: bad magic")
	}
	h.MinVersion = binary.BigEndian.Uint16(b[4:])
	h.MaxVersion = binary.BigEndian.Uint16(b[6:])
	h.BlockSize = binary.BigEndian.Uint32(b[8:])
	copy(h.Nonce[:], b[12:44])
	copy(h.Identity[:], b[44:76])
	copy(h.Ephemeral[:], b[76:108])
	h.Suites = Offer(b[108])
	copy(h.Sig[:], b[109:])
	return h, nil
}

// CheckRelayHello performs the client's checks of §4.3 against the
// fingerprint of the dialled address.
func CheckRelayHello(h *RelayHello, fp Fingerprint) error {
	got := FingerprintOf(h.Identity)
	if !crypto.Equal(got[:], fp[:]) {
		return errFingerprint
	}
	if !h.Verify() {
		return errHelloSig
	}
	if h.MinVersion > Version || h.MaxVersion < Version {
		return errVersion
	}
	if h.BlockSize != BlockSize {
		return malformed("relay hello: block size %d, want %d", h.BlockSize, BlockSize)
	}
	if _, ok := ChooseSuite(h.Suites, false); !ok {
		return errSuite
	}
	return nil
}

// ClientHello is the client's answer (§4.2).
type ClientHello struct {
	Version   uint16
	Ephemeral crypto.DHPublic
	Suite     Suite
}

// Marshal returns the ClientHelloSize-byte encoding.
func (h *ClientHello) Marshal() []byte {
	b := make([]byte, 0, ClientHelloSize)
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	b = append(b, h.Ephemeral[:]...)
	return append(b, byte(h.Suite))
}

// ParseClientHello decodes a client hello. It does not check the version:
// the relay does (and closes with CloseBadHello, §4.5).
func ParseClientHello(b []byte) (ClientHello, error) {
	var h ClientHello
	if len(b) != ClientHelloSize {
		return h, malformed("client hello is %d bytes, want %d", len(b), ClientHelloSize)
	}
	if [4]byte(b[:4]) != magic {
		return h, malformed("client hello: bad magic")
	}
	h.Version = binary.BigEndian.Uint16(b[4:])
	copy(h.Ephemeral[:], b[6:38])
	h.Suite = Suite(b[38])
	return h, nil
}
