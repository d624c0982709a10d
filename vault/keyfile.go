package vault

import (
	"encoding/binary"
	"fmt"
	"io"

	"veil/crypto"
)

// Key-file format, spec/vault.md §2. Every multi-byte integer is big-endian.
const (
	keyFileMagic   = "VEILVKEY" // §2, offset 0
	keyFileVersion = 1          // §2, offset 8
	kdfArgon2id    = 1          // §2, offset 9: Argon2id v1.3 (RFC 9106)
	numSlots       = 4          // §3: primary, duress or filler; always four
	headerSize     = 64         // §2
	saltSize       = 32         // §2
	slotPlainSize  = 64         // §3: kind, mode, 30 reserved, data key

	slotAD = "veil/vault/slot/v1" // §3, associated-data label

	decoyKeyFlag  = 1                          // §3.2, duress slot byte 2: a decoy key follows
	decoySeedSize = 16                         // §3.2, duress slot bytes 16..31
	decoySaltInfo = "veil/vault/decoy-salt/v1" // §3.9, HKDF info
)

// Derived sizes, spec/vault.md §2–3.
const (
	slotSize    = crypto.XNonceSize + slotPlainSize + crypto.Overhead // 104
	keyFileSize = headerSize + numSlots*slotSize                      // 480
)

// Slot kinds inside a slot's plaintext, spec/vault.md §3.
const (
	slotPrimary = 1
	slotDuress  = 2
)

// Argon2id bounds accepted from a key file, spec/vault.md §4. The upper
// bounds stop a garbled or hostile file from making unlock allocate
// gigabytes or spin for minutes.
const (
	maxArgonTime    = 64
	maxArgonMemKiB  = 2 << 20 // 2 GiB, RFC 9106's first recommended option
	maxArgonThreads = 16
)

// keyFile is the decoded key file: the KDF header and four opaque slots.
type keyFile struct {
	params crypto.Argon2Params
	salt   [saltSize]byte
	slots  [numSlots][slotSize]byte
}

// header returns the 64 header bytes, which are also each slot's
// associated data, so a changed parameter or salt fails every slot.
func (kf *keyFile) header() []byte {
	h := make([]byte, headerSize)
	copy(h, keyFileMagic)
	h[8] = keyFileVersion
	h[9] = kdfArgon2id
	h[10] = kf.params.Threads
	h[11] = numSlots
	binary.BigEndian.PutUint32(h[12:], kf.params.Time)
	binary.BigEndian.PutUint32(h[16:], kf.params.MemKiB)
	copy(h[20:52], kf.salt[:])
	// h[52:64] reserved, zero.
	return h
}

// marshal returns the 480-byte encoding, spec/vault.md §2.
func (kf *keyFile) marshal() []byte {
	b := kf.header()
	for i := range kf.slots {
		b = append(b, kf.slots[i][:]...)
	}
	return b
}

// parseKeyFile decodes a key file, rejecting anything but exactly the
// format of spec/vault.md §2. It never panics.
func parseKeyFile(b []byte) (*keyFile, error) {
	if len(b) < len(keyFileMagic) || string(b[:len(keyFileMagic)]) != keyFileMagic {
		return nil, corrupt("key file: bad magic (not a veil key file)")
	}
	if len(b) < headerSize {
		return nil, corrupt("key file: truncated header (%d bytes)", len(b))
	}
	if b[8] != keyFileVersion {
		return nil, corrupt("key file: unknown version %d (this build reads version %d)", b[8], keyFileVersion)
	}
	if b[9] != kdfArgon2id {
		return nil, corrupt("key file: unknown KDF %d", b[9])
	}
	if b[11] != numSlots {
		return nil, corrupt("key file: %d slots, want %d", b[11], numSlots)
	}
	if len(b) != keyFileSize {
		return nil, corrupt("key file: %d bytes, want %d", len(b), keyFileSize)
	}
	for _, c := range b[52:64] {
		if c != 0 {
			return nil, corrupt("key file: reserved header bytes are not zero")
		}
	}
	kf := &keyFile{params: crypto.Argon2Params{
		Threads: b[10],
		Time:    binary.BigEndian.Uint32(b[12:]),
		MemKiB:  binary.BigEndian.Uint32(b[16:]),
	}}
	if err := checkParams(kf.params); err != nil {
		return nil, fmt.Errorf("%w: key file: %v", ErrCorrupt, err)
	}
	copy(kf.salt[:], b[20:52])
	for i := range kf.slots {
		copy(kf.slots[i][:], b[headerSize+i*slotSize:])
	}
	return kf, nil
}

// checkParams enforces the bounds of spec/vault.md §4.
func checkParams(p crypto.Argon2Params) error {
	switch {
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, maxArgonTime)
	case p.Threads < 1 || p.Threads > maxArgonThreads:
		return fmt.Errorf("argon2id threads %d outside 1..%d", p.Threads, maxArgonThreads)
	case p.MemKiB < 8*uint32(p.Threads) || p.MemKiB > maxArgonMemKiB:
		return fmt.Errorf("argon2id memory %d KiB outside %d..%d", p.MemKiB, 8*uint32(p.Threads), maxArgonMemKiB)
	}
	return nil
}

// newKeyFile returns a key file with a fresh salt and four filler slots of
// random bytes (spec/vault.md §3), ready for sealSlot. It draws the salt,
// then slots 0 to 3, in the order of spec/vault.md §3.8.
func newKeyFile(p crypto.Argon2Params, r io.Reader) (*keyFile, error) {
	kf := &keyFile{params: p}
	if err := crypto.RandomBytes(r, kf.salt[:]); err != nil {
		return nil, err
	}
	for i := range kf.slots {
		if err := crypto.RandomBytes(r, kf.slots[i][:]); err != nil {
			return nil, err
		}
	}
	return kf, nil
}

// pinKey derives the slot key for pin. It is the Argon2id cost of unlock.
func (kf *keyFile) pinKey(pin []byte) crypto.SymKey {
	return crypto.PINKey(pin, kf.salt[:], kf.params)
}

// slotContent is a slot's decrypted plaintext, spec/vault.md §3.
type slotContent struct {
	kind byte
	mode DuressMode // duress slots only
	// dataKey is the data key of a primary slot; in a duress slot with
	// hasDecoy it is the decoy's PIN key (§3.9), otherwise random bytes.
	dataKey   crypto.SymKey
	hasDecoy  bool                // duress slots only
	decoySeed [decoySeedSize]byte // duress slots with hasDecoy
}

func (kf *keyFile) slotAD(i int) []byte {
	ad := append([]byte(slotAD), kf.header()...)
	return append(ad, byte(i))
}

// sealSlot writes c into slot i under k.
func (kf *keyFile) sealSlot(i int, k *crypto.SymKey, c *slotContent, r io.Reader) error {
	pt := make([]byte, slotPlainSize)
	defer crypto.Wipe(pt)
	pt[0] = c.kind
	pt[1] = byte(c.mode)
	if c.hasDecoy {
		pt[2] = decoyKeyFlag
		copy(pt[16:32], c.decoySeed[:])
	}
	copy(pt[32:], c.dataKey[:])
	out, err := crypto.SealX(nil, k, pt, kf.slotAD(i), r)
	if err != nil {
		return err
	}
	if len(out) != slotSize {
		panic("vault: sealed slot has the wrong size") // programmer error
	}
	copy(kf.slots[i][:], out)
	return nil
}

// openSlots tries k on every slot (always all of them, so the time taken
// does not depend on which slot matches) and returns the index and content
// of the first that opens, or -1.
func (kf *keyFile) openSlots(k *crypto.SymKey) (int, slotContent) {
	found := -1
	var c slotContent
	for i := range kf.slots {
		pt, err := crypto.OpenX(nil, k, kf.slots[i][:], kf.slotAD(i))
		if err != nil || len(pt) != slotPlainSize {
			continue
		}
		if found < 0 && (pt[0] == slotPrimary || pt[0] == slotDuress) {
			found = i
			c.kind = pt[0]
			c.mode = DuressMode(pt[1])
			c.hasDecoy = pt[0] == slotDuress && pt[2] == decoyKeyFlag
			copy(c.decoySeed[:], pt[16:32])
			copy(c.dataKey[:], pt[32:])
		}
		crypto.Wipe(pt)
	}
	return found, c
}

// decoySalt is the salt of the decoy key file made by a duress unlock,
// derived from the seed kept in the duress slot (spec/vault.md §3.9):
// HKDF-SHA-256 with the seed as secret, no salt and info decoySaltInfo.
func decoySalt(seed *[decoySeedSize]byte) [saltSize]byte {
	var s [saltSize]byte
	crypto.HKDF(s[:], seed[:], nil, decoySaltInfo)
	return s
}
