package wire

import (
	"encoding/binary"

	"veil/crypto"
)

// RelayHello is the relay's first message (spec/relay.md §4.1).
type RelayHello struct {
	MinVersion uint16
	MaxVersion uint16
	BlockSize  uint32
	Nonce      [NonceSize]byte
	Identity   crypto.SignPublic
	Ephemeral  crypto.DHPublic
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
	return b
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
	copy(h.Sig[:], b[108:])
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
	return nil
}

// ClientHello is the client's answer (§4.2).
type ClientHello struct {
	Version   uint16
	Ephemeral crypto.DHPublic
}

// Marshal returns the ClientHelloSize-byte encoding.
func (h *ClientHello) Marshal() []byte {
	b := make([]byte, 0, ClientHelloSize)
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	return append(b, h.Ephemeral[:]...)
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
	copy(h.Ephemeral[:], b[6:])
	return h, nil
}
