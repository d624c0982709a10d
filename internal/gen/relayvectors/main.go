// Command relayvectors writes the test vectors of spec/relay.md to
// spec/vectors/relay/ from fixed seeds. Run it from the repository root:
//
//	go run ./internal/gen/relayvectors
//
// Its test checks that the committed files are what it generates, and
// relay/wire's tests check the codec against the files byte for byte.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"veil/crypto"
	"veil/relay/wire"
)

func main() {
	dir := flag.String("dir", filepath.Join("spec", "vectors", "relay"), "output directory")
	flag.Parse()
	files, err := Generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "relayvectors:", err)
		os.Exit(1)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "relayvectors:", err)
			os.Exit(1)
		}
	}
}

// seeded returns a deterministic reader for one named input. It is not
// a secure generator and exists only for vectors.
func seeded(label string) io.Reader {
	return rand.NewChaCha8(crypto.Hash([]byte("veil relay vectors: " + label)))
}

func fill(label string, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(seeded(label), b); err != nil {
		panic(err)
	}
	return b
}

type hx []byte

func (h hx) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// HelloVector is spec/relay.md §3 and §4 end to end.
type HelloVector struct {
	Comment           string `json:"comment"`
	IdentitySeed      hx     `json:"identity_seed"`
	RelayEphemeralKey hx     `json:"relay_ephemeral_private"`
	Nonce             hx     `json:"nonce"`
	RelayHello        hx     `json:"relay_hello"`
	ClientEphemeral   hx     `json:"client_ephemeral_private"`
	ClientHello       hx     `json:"client_hello"`
	Shared            hx     `json:"shared"`
	KeyClientToRelay  hx     `json:"key_client_to_relay"`
	KeyRelayToClient  hx     `json:"key_relay_to_client"`
	Fingerprint       string `json:"fingerprint"`
	Address           string `json:"address"`
	// Blocks are the first two blocks client → relay (§5).
	Blocks []BlockVector `json:"blocks_client_to_relay"`
	// KeyClientToRelayNext is the client → relay key after the first
	// rekey (§5.1), and RekeyBlock the first block sealed under it.
	KeyClientToRelayNext hx          `json:"key_client_to_relay_after_rekey"`
	RekeyBlock           BlockVector `json:"block_client_to_relay_after_rekey"`
	// ChaCha is the same relay hello answered by a client that chose
	// ChaCha20-Poly1305 (§4.2): its hello, the keys, and its first block.
	ChaCha SuiteVector `json:"chacha20poly1305"`
}

// SuiteVector is a client hello choosing another suite, and its result.
type SuiteVector struct {
	ClientHello      hx          `json:"client_hello"`
	KeyClientToRelay hx          `json:"key_client_to_relay"`
	KeyRelayToClient hx          `json:"key_relay_to_client"`
	Block            BlockVector `json:"first_block_client_to_relay"`
}

// BlockVector is one sealed block.
type BlockVector struct {
	Counter   uint64 `json:"counter"`
	Items     []hx   `json:"items"`
	Plaintext hx     `json:"plaintext"`
	Sealed    hx     `json:"sealed"`
}

// FrameVector is one item (§7) with its fields.
type FrameVector struct {
	Name     string `json:"name"`
	Type     byte   `json:"type"`
	CID      uint32 `json:"cid"`
	ID       hx     `json:"id,omitempty"`
	SenderID hx     `json:"sender_id,omitempty"`
	Key      hx     `json:"key,omitempty"`
	Cap      hx     `json:"cap,omitempty"`
	ReadCap  hx     `json:"read_cap,omitempty"`
	DelCap   hx     `json:"del_cap,omitempty"`
	Count    uint32 `json:"count,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	Seconds  uint32 `json:"seconds,omitempty"`
	Limit    uint16 `json:"limit,omitempty"`
	Code     uint16 `json:"code,omitempty"`
	Password hx     `json:"password,omitempty"`
	// PutPassword is a long-form PUT's password field (§7.2); a PUT
	// without it is in the short form.
	PutPassword hx            `json:"put_password,omitempty"`
	Sig         hx            `json:"sig,omitempty"`
	Body        hx            `json:"body,omitempty"`
	Entries     []EntryVector `json:"entries,omitempty"`
	// Forwarding fields (§7.6).
	Dest       string `json:"dest,omitempty"`
	Route      hx     `json:"route,omitempty"`
	Ephemeral  hx     `json:"ephemeral,omitempty"`
	ForwardKey hx     `json:"forward_key,omitempty"`
	NotAfter   uint64 `json:"not_after,omitempty"`
	Encoding   hx     `json:"encoding"`
}

// EntryVector is one ENTRIES entry.
type EntryVector struct {
	Seq  uint64 `json:"seq"`
	Body hx     `json:"body"`
}

// SignedVector is a signed command (§7.4).
type SignedVector struct {
	Comment       string `json:"comment"`
	RecipientSeed hx     `json:"recipient_seed"`
	Nonce         hx     `json:"nonce"`
	Item          hx     `json:"item"`
	SignedMessage hx     `json:"signed_message"`
}

// Generate returns the vector files by name.
func Generate() (map[string][]byte, error) {
	out := map[string][]byte{}
	h, err := helloVector()
	if err != nil {
		return nil, err
	}
	frames, err := frameVectors()
	if err != nil {
		return nil, err
	}
	signed, err := signedVectors()
	if err != nil {
		return nil, err
	}
	fwd, err := forwardVector()
	if err != nil {
		return nil, err
	}
	creds, err := credentialedVectors()
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{"hello.json": h, "frames.json": frames, "signed.json": signed, "forward.json": fwd, "address-credentialed.json": creds} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

func helloVector() (*HelloVector, error) {
	v := &HelloVector{Comment: "spec/relay.md §3, §4, §5: relay hello, client hello, session keys and the first two client blocks"}
	v.IdentitySeed = fill("identity", 32)
	v.RelayEphemeralKey = fill("relay ephemeral", 32)
	v.Nonce = fill("nonce", wire.NonceSize)
	v.ClientEphemeral = fill("client ephemeral", 32)

	id, err := crypto.ParseSignPrivate(v.IdentitySeed)
	if err != nil {
		return nil, err
	}
	re, err := crypto.ParseDHPrivate(v.RelayEphemeralKey)
	if err != nil {
		return nil, err
	}
	ce, err := crypto.ParseDHPrivate(v.ClientEphemeral)
	if err != nil {
		return nil, err
	}
	rh := wire.RelayHello{MinVersion: wire.Version, MaxVersion: wire.Version, BlockSize: wire.BlockSize, Ephemeral: re.Public(),
		Suites: wire.OfferOf(wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305)}
	copy(rh.Nonce[:], v.Nonce)
	rh.Sign(id)
	v.RelayHello = rh.Marshal()
	ch := wire.ClientHello{Version: wire.Version, Ephemeral: ce.Public(), Suite: wire.SuiteAES256GCM}
	v.ClientHello = ch.Marshal()
	shared, err := crypto.DH(ce, re.Public())
	if err != nil {
		return nil, err
	}
	v.Shared = shared[:]
	keys := wire.DeriveKeys(&shared, v.RelayHello, v.ClientHello)
	v.KeyClientToRelay = keys.ClientToRelay[:]
	v.KeyRelayToClient = keys.RelayToClient[:]
	fp := wire.FingerprintOf(id.Public())
	v.Fingerprint = fp.String()
	v.Address = wire.Address{TLS: true, Host: "relay.example.org", Port: 443, Fingerprint: fp}.String()

	s := wire.NewSealer(wire.SuiteAES256GCM, keys.ClientToRelay)
	batches := [][]wire.Frame{
		{{Type: wire.TypePING, CID: 1}},
		{{Type: wire.TypeTAKE, CID: 2, ID: crypto.ID(fill("blob id", 24))}, {Type: wire.TypePING, CID: 3}},
	}
	for i, frames := range batches {
		var p wire.Packer
		p.Reset(make([]byte, wire.BlockPlainSize))
		bv := BlockVector{Counter: uint64(i)}
		for j := range frames {
			item, err := wire.AppendFrame(nil, &frames[j])
			if err != nil {
				return nil, err
			}
			if !p.Add(item) {
				return nil, fmt.Errorf("item does not fit")
			}
			bv.Items = append(bv.Items, item)
		}
		pt := p.Finish()
		bv.Plaintext = append([]byte(nil), pt...)
		bv.Sealed = s.Seal(nil, pt)
		v.Blocks = append(v.Blocks, bv)
	}

	// The first block after a rekey, computed from the formula of §5.1
	// rather than by running a Sealer through 2^20 blocks.
	next := wire.NextKey(&keys.ClientToRelay)
	v.KeyClientToRelayNext = next[:]
	item, err := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypePING, CID: 4})
	if err != nil {
		return nil, err
	}
	var p wire.Packer
	p.Reset(make([]byte, wire.BlockPlainSize))
	p.Add(item)
	pt := p.Finish()
	var nonce [crypto.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], wire.RekeyInterval)
	v.RekeyBlock = BlockVector{
		Counter:   wire.RekeyInterval,
		Items:     []hx{item},
		Plaintext: append([]byte(nil), pt...),
		Sealed:    crypto.NewBlockAEAD(crypto.BlockAES256GCM, &next).Seal(nil, &nonce, pt, nil),
	}

	cc := wire.ClientHello{Version: wire.Version, Ephemeral: ce.Public(), Suite: wire.SuiteChaCha20Poly1305}
	v.ChaCha.ClientHello = cc.Marshal()
	ck := wire.DeriveKeys(&shared, v.RelayHello, v.ChaCha.ClientHello)
	v.ChaCha.KeyClientToRelay = ck.ClientToRelay[:]
	v.ChaCha.KeyRelayToClient = ck.RelayToClient[:]
	var zero [crypto.NonceSize]byte
	v.ChaCha.Block = BlockVector{
		Counter:   0,
		Items:     []hx{item},
		Plaintext: append([]byte(nil), pt...),
		Sealed:    crypto.NewBlockAEAD(crypto.BlockChaCha20Poly1305, &ck.ClientToRelay).Seal(nil, &zero, pt, nil),
	}
	return v, nil
}

func frameVectors() ([]FrameVector, error) {
	id := func(l string) crypto.ID { return crypto.ID(fill(l, 24)) }
	c32 := func(l string) [32]byte { return [32]byte(fill(l, 32)) }
	body := func(l string, n int) []byte { return fill(l, n) }
	// SKEY and LNEW carry SHA-256 of the capabilities that SEND, LAPPEND,
	// LREAD and LDEL present (spec/relay.md §7.2).
	hashOf := func(l string) [32]byte { return crypto.Hash(fill(l, 32)) }
	dest, err := wire.ParseAddress("veil://relay.example.org:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI")
	if err != nil {
		return nil, err
	}
	chunkFP := dest.Fingerprint
	frames := []wire.Frame{
		{Type: wire.TypeNEW, CID: 1, Key: crypto.SignPublic(c32("recipient key")), Password: []byte("correct horse"), Sig: [64]byte(fill("sig new", 64))},
		{Type: wire.TypeNEW, CID: 2, Key: crypto.SignPublic(c32("recipient key")), Sig: [64]byte(fill("sig new 2", 64))},
		{Type: wire.TypeSKEY, CID: 3, ID: id("sender id"), Cap: hashOf("sender cap")},
		{Type: wire.TypeSEND, CID: 4, ID: id("sender id"), Cap: c32("sender cap"), Body: body("send body", 1024)},
		{Type: wire.TypeSUB, CID: 5, ID: id("recipient id"), Sig: [64]byte(fill("sig sub", 64))},
		{Type: wire.TypeACK, CID: 6, ID: id("recipient id"), Seq: 42},
		{Type: wire.TypeDEL, CID: 7, ID: id("recipient id"), Sig: [64]byte(fill("sig del", 64))},
		{Type: wire.TypeOFF, CID: 8, ID: id("recipient id")},
		// PUT's long form carries the first 28 bytes of the chunk
		// password (below); its short form, without them, is at the end.
		{Type: wire.TypePUT, CID: 9, ID: id("blob id"), Seconds: 86400, Cap: wire.PutPassword(chunkFP, []byte("correct horse")), PutHasPassword: true, Body: body("blob", 1024)},
		{Type: wire.TypeTAKE, CID: 10, ID: id("blob id")},
		{Type: wire.TypeLNEW, CID: 11, Cap: hashOf("write cap"), ReadCap: hashOf("read cap"), Seconds: 604800},
		{Type: wire.TypeLAPPEND, CID: 12, ID: id("log id"), Cap: c32("write cap"), Body: body("entry", 1024)},
		{Type: wire.TypeLREAD, CID: 13, ID: id("log id"), Cap: c32("read cap"), Seq: 7, Limit: 100},
		{Type: wire.TypeLDEL, CID: 14, ID: id("log id"), Cap: c32("write cap")},
		{Type: wire.TypePING, CID: 15},
		{Type: wire.TypeLSUB, CID: 16, ID: id("log id"), Cap: c32("read cap"), Seq: 7},
		{Type: wire.TypeLUNSUB, CID: 17, ID: id("log id")},
		{Type: wire.TypeOK, CID: 4},
		{Type: wire.TypeERR, CID: 3, Code: wire.CodeAlreadySecured},
		{Type: wire.TypeIDS, CID: 1, ID: id("recipient id"), SenderID: id("sender id")},
		{Type: wire.TypeBLOB, CID: 10, Body: body("blob", 1024)},
		{Type: wire.TypeLID, CID: 11, ID: id("log id")},
		{Type: wire.TypeSEQ, CID: 12, Seq: 8},
		{Type: wire.TypeENTRIES, CID: 13, Entries: []wire.Entry{{Seq: 8, Body: body("entry", 1024)}, {Seq: 9, Body: body("entry 2", 1024)}}},
		{Type: wire.TypeENTRIES, CID: 13},
		{Type: wire.TypeMSG, ID: id("recipient id"), Seq: 1, Body: body("send body", 1024)},
		{Type: wire.TypeEND, ID: id("recipient id")},
		{Type: wire.TypeLNOTE, ID: id("log id"), Seq: 9},
		{Type: wire.TypeFKEY, CID: 18, Password: []byte("correct horse"), Dest: []byte("veil://relay.example.org:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI")},
		{Type: wire.TypeFKEY, CID: 19},
		{Type: wire.TypeFWD, CID: 20, Route: [8]byte(fill("route", 8)), Ephemeral: crypto.DHPublic(c32("ephemeral")), Body: body("sealed", 1056)},
		{Type: wire.TypeRFWD, CID: 21, NotAfter: 1767225600, Ephemeral: crypto.DHPublic(c32("ephemeral")), Body: body("sealed", 1056)},
		{Type: wire.TypeFKEYS, CID: 18, Route: [8]byte(fill("route", 8)), Key: crypto.SignPublic(c32("identity")),
			ForwardKey: crypto.DHPublic(c32("forward key")), NotAfter: 1767225600, Sig: [64]byte(fill("sig fkeys", 64))},
		{Type: wire.TypeFRES, CID: 20, Body: body("sealed reply", 21)},
		// Chunks (§7.7): CPUT carries SHA-256 of the read and delete
		// capabilities that CGET and CDEL present, and CPUT and CROOM the
		// chunk password of the relay password "correct horse" for the relay
		// whose fingerprint FKEY's destination names.
		{Type: wire.TypeCPUT, CID: 22, ID: id("chunk id"), ReadCap: hashOf("chunk read cap"), DelCap: hashOf("chunk delete cap"),
			Seconds: 86400, Cap: wire.ChunkPassword(chunkFP, []byte("correct horse")), Body: body("chunk", wire.ChunkSize)},
		{Type: wire.TypeCGET, CID: 23, ID: id("chunk id"), Cap: c32("chunk read cap")},
		{Type: wire.TypeCDEL, CID: 24, ID: id("chunk id"), Cap: c32("chunk delete cap")},
		{Type: wire.TypeCROOM, CID: 25, Count: 6400, Seconds: 604800, Cap: wire.ChunkPassword(chunkFP, []byte("correct horse"))},
		{Type: wire.TypeCROOM, CID: 26, Count: 1, Seconds: 3600}, // a relay without a password: all zero
		{Type: wire.TypeCHUNK, CID: 23, Body: body("chunk", wire.ChunkSize)},
		{Type: wire.TypePUT, CID: 27, ID: id("blob id"), Seconds: 3600, Body: body("blob", 1024)}, // the short form: no password field
	}
	var out []FrameVector
	for i := range frames {
		f := &frames[i]
		enc, err := wire.AppendFrame(nil, f)
		if err != nil {
			return nil, err
		}
		fv := FrameVector{Name: f.Type.String(), Type: byte(f.Type), CID: f.CID, Seq: f.Seq, Seconds: f.Seconds,
			Limit: f.Limit, Code: uint16(f.Code), Password: f.Password, Body: f.Body, Count: f.Count, Encoding: enc}
		var zeroID crypto.ID
		if f.ID != zeroID {
			fv.ID = f.ID[:]
		}
		if f.SenderID != zeroID {
			fv.SenderID = f.SenderID[:]
		}
		if f.Key != (crypto.SignPublic{}) {
			fv.Key = f.Key[:]
		}
		if f.PutHasPassword {
			fv.PutPassword = f.Cap[:wire.PutPasswordSize] // a PUT sends no more of Cap
		} else if f.Cap != ([32]byte{}) {
			fv.Cap = f.Cap[:]
		}
		if f.ReadCap != ([32]byte{}) {
			fv.ReadCap = f.ReadCap[:]
		}
		if f.DelCap != ([32]byte{}) {
			fv.DelCap = f.DelCap[:]
		}
		if f.Sig != ([64]byte{}) {
			fv.Sig = f.Sig[:]
		}
		for _, e := range f.Entries {
			fv.Entries = append(fv.Entries, EntryVector{Seq: e.Seq, Body: e.Body})
		}
		fv.Dest, fv.NotAfter = string(f.Dest), f.NotAfter
		if f.Route != ([wire.RouteIDSize]byte{}) {
			fv.Route = f.Route[:]
		}
		if f.Ephemeral != (crypto.DHPublic{}) {
			fv.Ephemeral = f.Ephemeral[:]
		}
		if f.ForwardKey != (crypto.DHPublic{}) {
			fv.ForwardKey = f.ForwardKey[:]
		}
		out = append(out, fv)
	}
	return out, nil
}

func signedVectors() ([]SignedVector, error) {
	seed := fill("recipient", 32)
	k, err := crypto.ParseSignPrivate(seed)
	if err != nil {
		return nil, err
	}
	nonce := [wire.NonceSize]byte(fill("nonce", wire.NonceSize))
	frames := []wire.Frame{
		{Type: wire.TypeNEW, CID: 1, Key: k.Public()},
		{Type: wire.TypeSUB, CID: 2, ID: crypto.ID(fill("recipient id", 24))},
		{Type: wire.TypeDEL, CID: 3, ID: crypto.ID(fill("recipient id", 24))},
	}
	var out []SignedVector
	for i := range frames {
		f := &frames[i]
		if err := wire.SignFrame(f, &nonce, k); err != nil {
			return nil, err
		}
		item, err := wire.AppendFrame(nil, f)
		if err != nil {
			return nil, err
		}
		out = append(out, SignedVector{
			Comment:       "spec/relay.md §7.4: " + f.Type.String() + " signed over the connection nonce",
			RecipientSeed: seed, Nonce: nonce[:], Item: item, SignedMessage: wire.SignedMessage(&nonce, item),
		})
	}
	return out, nil
}

// ForwardVector is spec/relay.md §7.6 end to end: a destination's forward
// key and its FKEYS, one forwarded SEND sealed to it, and the reply.
type ForwardVector struct {
	Comment        string `json:"comment"`
	IdentitySeed   hx     `json:"identity_seed"`
	Fingerprint    string `json:"fingerprint"`
	Period         uint32 `json:"period"`
	ForwardPrivate hx     `json:"forward_private"`
	ForwardPublic  hx     `json:"forward_public"`
	NotAfter       uint64 `json:"not_after"`
	SignedMessage  hx     `json:"signed_message"`
	Signature      hx     `json:"signature"`
	Route          hx     `json:"route"`
	FKeys          hx     `json:"fkeys_item"`
	Ephemeral      hx     `json:"ephemeral_private"`
	EphemeralPub   hx     `json:"ephemeral_public"`
	Shared         hx     `json:"shared"`
	OKM            hx     `json:"okm"`
	AD             hx     `json:"ad"`
	Time           uint64 `json:"time"`
	Item           hx     `json:"item"`
	Inner          hx     `json:"inner"`
	// SKeyItem and SKeyInner are an SKEY and its plaintext, zero-padded
	// to the size of Inner (§7.6.3); they are not sealed here.
	SKeyItem    hx `json:"skey_item"`
	SKeyInner   hx `json:"skey_inner"`
	Sealed      hx `json:"sealed"`
	FWD         hx `json:"fwd_item"`
	RFWD        hx `json:"rfwd_item"`
	Reply       hx `json:"reply_item"`
	ReplyNonce  hx `json:"reply_nonce"`
	SealedReply hx `json:"sealed_reply"`
	FRES        hx `json:"fres_item"`
}

func forwardVector() (*ForwardVector, error) {
	v := &ForwardVector{Comment: "spec/relay.md §7.6: forward key of period 20454, its FKEYS, a SEND sealed to it and the OK sealed back under a fixed reply nonce; an SKEY's plaintext, padded to the SEND's size",
		Period: 20454, Time: 20454*86400 + 3600}
	v.IdentitySeed = fill("forward identity", 32)
	id, err := crypto.ParseSignPrivate(v.IdentitySeed)
	if err != nil {
		return nil, err
	}
	fp := wire.FingerprintOf(id.Public())
	v.Fingerprint = fp.String()
	fk, err := wire.DeriveForwardKey(id, v.Period)
	if err != nil {
		return nil, err
	}
	v.ForwardPrivate = fk.Bytes()
	pub := fk.Public()
	v.ForwardPublic = pub[:]
	v.NotAfter = wire.ForwardNotAfter(v.Period)
	v.SignedMessage = binary.BigEndian.AppendUint64(append([]byte("veil-relay/v1/forward key"), pub[:]...), v.NotAfter)
	sig := wire.SignForwardKey(id, pub, v.NotAfter)
	v.Signature = sig[:]
	route := [wire.RouteIDSize]byte(fill("route", 8))
	v.Route = route[:]
	fkeys, err := wire.FKeysFrame(id, v.Period, route)
	if err != nil {
		return nil, err
	}
	fkeys.CID = 1
	if v.FKeys, err = wire.AppendFrame(nil, &fkeys); err != nil {
		return nil, err
	}

	v.Ephemeral = fill("forward ephemeral", 32)
	eph, err := crypto.ParseDHPrivate(v.Ephemeral)
	if err != nil {
		return nil, err
	}
	ephPub := eph.Public()
	v.EphemeralPub = ephPub[:]
	shared, err := crypto.DH(eph, pub)
	if err != nil {
		return nil, err
	}
	v.Shared = shared[:]
	okm := make([]byte, 64)
	crypto.HKDF(okm, shared[:], pub[:], "veil-relay/v1/forward keys")
	v.OKM = okm
	ad := append([]byte("veil-relay/v1/fwd"), fp[:]...)
	ad = append(ad, ephPub[:]...)
	v.AD = append(ad, pub[:]...)

	_, keys, err := wire.SenderForwardKeys(bytes.NewReader(v.Ephemeral), fp, pub)
	if err != nil {
		return nil, err
	}
	item := wire.Frame{Type: wire.TypeSEND, ID: crypto.ID(fill("sender id", 24)), Cap: [32]byte(fill("sender cap", 32)), Body: fill("send body", 1024)}
	if v.Item, err = wire.AppendFrame(nil, &item); err != nil {
		return nil, err
	}
	if v.Inner, err = wire.AppendForwardInner(nil, v.Time, &item); err != nil {
		return nil, err
	}
	skey := wire.Frame{Type: wire.TypeSKEY, ID: item.ID, Cap: crypto.Hash(item.Cap[:])}
	if v.SKeyItem, err = wire.AppendFrame(nil, &skey); err != nil {
		return nil, err
	}
	if v.SKeyInner, err = wire.AppendForwardInner(nil, v.Time, &skey); err != nil {
		return nil, err
	}
	v.Sealed = keys.SealItem(nil, v.Inner)
	fwd := wire.Frame{Type: wire.TypeFWD, CID: 2, Route: route, Ephemeral: ephPub, Body: v.Sealed}
	if v.FWD, err = wire.AppendFrame(nil, &fwd); err != nil {
		return nil, err
	}
	rfwd := wire.Frame{Type: wire.TypeRFWD, CID: 7, NotAfter: v.NotAfter, Ephemeral: ephPub, Body: v.Sealed}
	if v.RFWD, err = wire.AppendFrame(nil, &rfwd); err != nil {
		return nil, err
	}
	if v.Reply, err = wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeOK}); err != nil {
		return nil, err
	}
	v.ReplyNonce = fill("reply nonce", crypto.NonceSize)
	if v.SealedReply, err = keys.SealReply(bytes.NewReader(v.ReplyNonce), nil, v.Reply); err != nil {
		return nil, err
	}
	fres := wire.Frame{Type: wire.TypeFRES, CID: 2, Body: v.SealedReply}
	if v.FRES, err = wire.AppendFrame(nil, &fres); err != nil {
		return nil, err
	}
	return v, nil
}

// CredentialedVector is one relay address in the credentialed form of
// spec/relay.md §3.5: what a reader makes of Input. Valid inputs give the
// canonical address, the password (hex, empty when none) and the text
// Credentialed.Secret writes; invalid ones set Error.
type CredentialedVector struct {
	Comment   string `json:"comment"`
	Input     string `json:"input"`
	Canonical string `json:"canonical,omitempty"`
	Password  hx     `json:"password,omitempty"`
	Secret    string `json:"secret,omitempty"`
	Error     bool   `json:"error,omitempty"`
}

func credentialedVectors() ([]CredentialedVector, error) {
	fp := wire.Fingerprint(fill("credentialed fingerprint", 32)).String()
	long := fill("long password", wire.MaxPassword)
	b64 := base64.RawURLEncoding.EncodeToString
	cases := []CredentialedVector{
		{Comment: "canonical address, no password", Input: "veil://relay.example.org:443#" + fp},
		{Comment: "password \"correct horse\"", Input: "veil://relay.example.org:443#" + fp + "~" + b64([]byte("correct horse"))},
		{Comment: "a reader's variant of the address is made canonical; the password stays", Input: "veil+ws://[127.0.0.1]:7070/#" + fp + "~" + b64([]byte{0})},
		{Comment: "IPv6 host, longest password (255 bytes)", Input: "veil://[2001:DB8::0:1]:443#" + fp + "~" + b64(long)},
		{Comment: "empty password", Input: "veil://relay.example.org:443#" + fp + "~", Error: true},
		{Comment: "256-byte password", Input: "veil://relay.example.org:443#" + fp + "~" + b64(append(long, 1)), Error: true},
		{Comment: "padded base64", Input: "veil://relay.example.org:443#" + fp + "~" + base64.URLEncoding.EncodeToString([]byte("pw")), Error: true},
		{Comment: "standard base64 alphabet", Input: "veil://relay.example.org:443#" + fp + "~" + "a+/b", Error: true},
		{Comment: "non-canonical trailing bits", Input: "veil://relay.example.org:443#" + fp + "~" + "cHx", Error: true},
		{Comment: "two separators", Input: "veil://relay.example.org:443#" + fp + "~" + b64([]byte("a")) + "~" + b64([]byte("b")), Error: true},
		{Comment: "password before the fingerprint", Input: "veil://relay.example.org:443~" + b64([]byte("pw")) + "#" + fp, Error: true},
	}
	for i := range cases {
		c := &cases[i]
		cr, err := wire.ParseCredentialed(c.Input)
		if c.Error {
			if err == nil {
				return nil, fmt.Errorf("credentialed vector %q parses", c.Comment)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("credentialed vector %q: %w", c.Comment, err)
		}
		c.Canonical, c.Password, c.Secret = cr.String(), hx(cr.Password), cr.Secret()
	}
	return cases, nil
}
