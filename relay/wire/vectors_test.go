package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"veil/crypto"
	"veil/relay/wire"
)

// The vectors are spec/vectors/relay/*.json, written by
// internal/gen/relayvectors from fixed seeds.
var vectorDir = filepath.Join("..", "..", "spec", "vectors", "relay")

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestHelloVector(t *testing.T) {
	var v struct {
		IdentitySeed     hexBytes `json:"identity_seed"`
		RelayEphemeral   hexBytes `json:"relay_ephemeral_private"`
		Nonce            hexBytes `json:"nonce"`
		RelayHello       hexBytes `json:"relay_hello"`
		ClientEphemeral  hexBytes `json:"client_ephemeral_private"`
		ClientHello      hexBytes `json:"client_hello"`
		Shared           hexBytes `json:"shared"`
		KeyClientToRelay hexBytes `json:"key_client_to_relay"`
		KeyRelayToClient hexBytes `json:"key_relay_to_client"`
		Fingerprint      string   `json:"fingerprint"`
		Address          string   `json:"address"`
		Blocks           []struct {
			Counter   uint64     `json:"counter"`
			Items     []hexBytes `json:"items"`
			Plaintext hexBytes   `json:"plaintext"`
			Sealed    hexBytes   `json:"sealed"`
		} `json:"blocks_client_to_relay"`
		ChaCha struct {
			ClientHello      hexBytes `json:"client_hello"`
			KeyClientToRelay hexBytes `json:"key_client_to_relay"`
			KeyRelayToClient hexBytes `json:"key_relay_to_client"`
			Block            struct {
				Plaintext hexBytes `json:"plaintext"`
				Sealed    hexBytes `json:"sealed"`
			} `json:"first_block_client_to_relay"`
		} `json:"chacha20poly1305"`
		KeyNext    hexBytes `json:"key_client_to_relay_after_rekey"`
		RekeyBlock struct {
			Counter   uint64   `json:"counter"`
			Plaintext hexBytes `json:"plaintext"`
			Sealed    hexBytes `json:"sealed"`
		} `json:"block_client_to_relay_after_rekey"`
	}
	loadJSON(t, "hello.json", &v)

	id, err := crypto.ParseSignPrivate(v.IdentitySeed)
	if err != nil {
		t.Fatal(err)
	}
	re, _ := crypto.ParseDHPrivate(v.RelayEphemeral)
	ce, _ := crypto.ParseDHPrivate(v.ClientEphemeral)

	rh := wire.RelayHello{MinVersion: wire.Version, MaxVersion: wire.Version, BlockSize: wire.BlockSize, Ephemeral: re.Public(), Nonce: [32]byte(v.Nonce),
		Suites: wire.OfferOf(wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305)}
	rh.Sign(id)
	if got := rh.Marshal(); !bytes.Equal(got, v.RelayHello) {
		t.Fatalf("relay hello:\n got %x\nwant %x", got, v.RelayHello)
	}
	parsed, err := wire.ParseRelayHello(v.RelayHello)
	if err != nil || parsed != rh {
		t.Fatalf("ParseRelayHello = %v, %v", parsed, err)
	}
	fp, err := wire.ParseFingerprint(v.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.CheckRelayHello(&parsed, fp); err != nil {
		t.Fatalf("CheckRelayHello: %v", err)
	}
	if got := wire.FingerprintOf(id.Public()); got != fp {
		t.Fatalf("fingerprint %v, want %v", got, fp)
	}
	a, err := wire.ParseAddress(v.Address)
	if err != nil || a.Fingerprint != fp || a.String() != v.Address || !a.TLS {
		t.Fatalf("address %+v, %v", a, err)
	}

	ch := wire.ClientHello{Version: wire.Version, Ephemeral: ce.Public(), Suite: wire.SuiteAES256GCM}
	if got := ch.Marshal(); !bytes.Equal(got, v.ClientHello) {
		t.Fatalf("client hello:\n got %x\nwant %x", got, v.ClientHello)
	}
	s1, _ := crypto.DH(ce, re.Public())
	s2, _ := crypto.DH(re, ce.Public())
	if !bytes.Equal(s1[:], v.Shared) || s1 != s2 {
		t.Fatalf("shared secret mismatch")
	}
	keys := wire.DeriveKeys(&s1, v.RelayHello, v.ClientHello)
	if !bytes.Equal(keys.ClientToRelay[:], v.KeyClientToRelay) || !bytes.Equal(keys.RelayToClient[:], v.KeyRelayToClient) {
		t.Fatalf("session keys mismatch")
	}

	s := wire.NewSealer(wire.SuiteAES256GCM, keys.ClientToRelay)
	o := wire.NewOpener(wire.SuiteAES256GCM, keys.ClientToRelay)
	for i, b := range v.Blocks {
		if b.Counter != uint64(i) {
			t.Fatalf("block %d has counter %d", i, b.Counter)
		}
		var p wire.Packer
		p.Reset(make([]byte, wire.BlockPlainSize))
		for _, it := range b.Items {
			if !p.Add(it) {
				t.Fatal("item does not fit")
			}
		}
		pt := p.Finish()
		if !bytes.Equal(pt, b.Plaintext) {
			t.Fatalf("block %d plaintext mismatch", i)
		}
		if got := s.Seal(nil, pt); !bytes.Equal(got, b.Sealed) {
			t.Fatalf("block %d sealed mismatch", i)
		}
		opened, err := o.Open(nil, b.Sealed)
		if err != nil || !bytes.Equal(opened, b.Plaintext) {
			t.Fatalf("block %d open: %v", i, err)
		}
		items, err := wire.SplitBlock(opened)
		if err != nil || len(items) != len(b.Items) {
			t.Fatalf("block %d split: %d items, %v", i, len(items), err)
		}
		for j := range items {
			if !bytes.Equal(items[j], b.Items[j]) {
				t.Fatalf("block %d item %d mismatch", i, j)
			}
		}
	}

	// §5.1: the block numbered RekeyInterval is the first under the next key.
	if next := wire.NextKey(&keys.ClientToRelay); !bytes.Equal(next[:], v.KeyNext) {
		t.Fatalf("next key:\n got %x\nwant %x", next, v.KeyNext)
	}
	rb := v.RekeyBlock
	if rb.Counter != wire.RekeyInterval {
		t.Fatalf("rekey block has counter %d", rb.Counter)
	}
	n := uint64(len(v.Blocks))
	s.SkipBlocks(wire.RekeyInterval - n)
	o.SkipBlocks(wire.RekeyInterval - n)
	if got := s.Seal(nil, rb.Plaintext); !bytes.Equal(got, rb.Sealed) {
		t.Fatal("block after rekey: sealed mismatch")
	}
	if opened, err := o.Open(nil, rb.Sealed); err != nil || !bytes.Equal(opened, rb.Plaintext) {
		t.Fatalf("block after rekey: open: %v", err)
	}
	// The old key no longer opens anything: an opener that did not rekey
	// (here, one a block behind) fails.
	stale := wire.NewOpener(wire.SuiteAES256GCM, keys.ClientToRelay)
	stale.SkipBlocks(wire.RekeyInterval - 1)
	if _, err := stale.Open(nil, rb.Sealed); err == nil {
		t.Fatal("a block opened under the wrong counter and key")
	}

	// The same relay hello answered with ChaCha20-Poly1305 (§4.2): another
	// client hello, so other keys (th covers it), and ChaCha blocks.
	cc := wire.ClientHello{Version: wire.Version, Ephemeral: ce.Public(), Suite: wire.SuiteChaCha20Poly1305}
	if got := cc.Marshal(); !bytes.Equal(got, v.ChaCha.ClientHello) {
		t.Fatalf("chacha client hello:\n got %x\nwant %x", got, v.ChaCha.ClientHello)
	}
	ck := wire.DeriveKeys(&s1, v.RelayHello, v.ChaCha.ClientHello)
	if !bytes.Equal(ck.ClientToRelay[:], v.ChaCha.KeyClientToRelay) || !bytes.Equal(ck.RelayToClient[:], v.ChaCha.KeyRelayToClient) {
		t.Fatal("chacha session keys mismatch")
	}
	if got := wire.NewSealer(wire.SuiteChaCha20Poly1305, ck.ClientToRelay).Seal(nil, v.ChaCha.Block.Plaintext); !bytes.Equal(got, v.ChaCha.Block.Sealed) {
		t.Fatal("chacha block: sealed mismatch")
	}
}

type frameVector struct {
	Name     string   `json:"name"`
	Type     byte     `json:"type"`
	CID      uint32   `json:"cid"`
	ID       hexBytes `json:"id"`
	SenderID hexBytes `json:"sender_id"`
	Key      hexBytes `json:"key"`
	Cap      hexBytes `json:"cap"`
	ReadCap  hexBytes `json:"read_cap"`
	DelCap   hexBytes `json:"del_cap"`
	Count    uint32   `json:"count"`
	Seq      uint64   `json:"seq"`
	Seconds  uint32   `json:"seconds"`
	Limit    uint16   `json:"limit"`
	Code     uint16   `json:"code"`
	Password hexBytes `json:"password"`
	// PutPassword is a long-form PUT's password field (§7.2).
	PutPassword hexBytes `json:"put_password"`
	Sig         hexBytes `json:"sig"`
	Body        hexBytes `json:"body"`
	Entries     []struct {
		Seq  uint64   `json:"seq"`
		Body hexBytes `json:"body"`
	} `json:"entries"`
	Dest       string   `json:"dest"`
	Route      hexBytes `json:"route"`
	Ephemeral  hexBytes `json:"ephemeral"`
	ForwardKey hexBytes `json:"forward_key"`
	NotAfter   uint64   `json:"not_after"`
	Encoding   hexBytes `json:"encoding"`
}

func (v *frameVector) frame() wire.Frame {
	f := wire.Frame{Type: wire.Type(v.Type), CID: v.CID, Seq: v.Seq, Seconds: v.Seconds, Limit: v.Limit,
		Code: wire.Code(v.Code), Password: v.Password, Body: v.Body, NotAfter: v.NotAfter, Count: v.Count}
	if v.Dest != "" {
		f.Dest = []byte(v.Dest)
	}
	copy(f.Route[:], v.Route)
	copy(f.Ephemeral[:], v.Ephemeral)
	copy(f.ForwardKey[:], v.ForwardKey)
	copy(f.ID[:], v.ID)
	copy(f.SenderID[:], v.SenderID)
	copy(f.Key[:], v.Key)
	copy(f.Cap[:], v.Cap)
	if v.PutPassword != nil {
		copy(f.Cap[:], v.PutPassword)
		f.PutHasPassword = true
	}
	copy(f.ReadCap[:], v.ReadCap)
	copy(f.DelCap[:], v.DelCap)
	copy(f.Sig[:], v.Sig)
	for _, e := range v.Entries {
		f.Entries = append(f.Entries, wire.Entry{Seq: e.Seq, Body: e.Body})
	}
	return f
}

func TestFrameVectors(t *testing.T) {
	var vs []frameVector
	loadJSON(t, "frames.json", &vs)
	seen := map[wire.Type]bool{}
	for i := range vs {
		v := &vs[i]
		t.Run(v.Name, func(t *testing.T) {
			f := v.frame()
			seen[f.Type] = true
			got, err := wire.AppendFrame(nil, &f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, v.Encoding) {
				t.Fatalf("encoding:\n got %x\nwant %x", got, v.Encoding)
			}
			p, err := wire.ParseFrame(v.Encoding)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := wire.AppendFrame(nil, &p)
			if !bytes.Equal(again, v.Encoding) {
				t.Fatal("parse → append differs")
			}
			if p.PutHasPassword != f.PutHasPassword || (f.PutHasPassword && p.Cap != f.Cap) {
				t.Fatalf("parsed PUT form %v, password %x; want %v, %x", p.PutHasPassword, p.Cap, f.PutHasPassword, f.Cap)
			}
			if p.Type.String() != v.Name {
				t.Fatalf("name %q, want %q", p.Type, v.Name)
			}
		})
	}
	for _, ty := range allTypes {
		if !seen[ty] {
			t.Errorf("no vector for %v", ty)
		}
	}
}

var allTypes = []wire.Type{
	wire.TypeNEW, wire.TypeSKEY, wire.TypeSEND, wire.TypeSUB, wire.TypeACK, wire.TypeDEL, wire.TypeOFF,
	wire.TypePUT, wire.TypeTAKE, wire.TypeLNEW, wire.TypeLAPPEND, wire.TypeLREAD, wire.TypeLDEL, wire.TypePING,
	wire.TypeLSUB, wire.TypeLUNSUB, wire.TypeFKEY, wire.TypeFWD, wire.TypeRFWD,
	wire.TypeCPUT, wire.TypeCGET, wire.TypeCDEL, wire.TypeCROOM,
	wire.TypeOK, wire.TypeERR, wire.TypeIDS, wire.TypeBLOB, wire.TypeLID, wire.TypeSEQ, wire.TypeENTRIES,
	wire.TypeMSG, wire.TypeEND, wire.TypeLNOTE, wire.TypeFKEYS, wire.TypeFRES, wire.TypeCHUNK,
}

func TestForwardVector(t *testing.T) {
	var v struct {
		IdentitySeed   hexBytes `json:"identity_seed"`
		Fingerprint    string   `json:"fingerprint"`
		Period         uint32   `json:"period"`
		ForwardPrivate hexBytes `json:"forward_private"`
		ForwardPublic  hexBytes `json:"forward_public"`
		NotAfter       uint64   `json:"not_after"`
		SignedMessage  hexBytes `json:"signed_message"`
		Signature      hexBytes `json:"signature"`
		Route          hexBytes `json:"route"`
		FKeys          hexBytes `json:"fkeys_item"`
		Ephemeral      hexBytes `json:"ephemeral_private"`
		EphemeralPub   hexBytes `json:"ephemeral_public"`
		Shared         hexBytes `json:"shared"`
		OKM            hexBytes `json:"okm"`
		AD             hexBytes `json:"ad"`
		Time           uint64   `json:"time"`
		Item           hexBytes `json:"item"`
		Inner          hexBytes `json:"inner"`
		Sealed         hexBytes `json:"sealed"`
		FWD            hexBytes `json:"fwd_item"`
		SKeyItem       hexBytes `json:"skey_item"`
		SKeyInner      hexBytes `json:"skey_inner"`
		RFWD           hexBytes `json:"rfwd_item"`
		Reply          hexBytes `json:"reply_item"`
		ReplyNonce     hexBytes `json:"reply_nonce"`
		SealedReply    hexBytes `json:"sealed_reply"`
		FRES           hexBytes `json:"fres_item"`
	}
	loadJSON(t, "forward.json", &v)
	id, err := crypto.ParseSignPrivate(v.IdentitySeed)
	if err != nil {
		t.Fatal(err)
	}
	fp := wire.FingerprintOf(id.Public())
	if fp.String() != v.Fingerprint {
		t.Fatal("fingerprint")
	}
	fk, err := wire.DeriveForwardKey(id, v.Period)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fk.Bytes(), v.ForwardPrivate) {
		t.Fatal("forward private key")
	}
	pub := fk.Public()
	if !bytes.Equal(pub[:], v.ForwardPublic) || wire.ForwardNotAfter(v.Period) != v.NotAfter {
		t.Fatal("forward public key or not-after")
	}
	if !crypto.Verify(id.Public(), v.SignedMessage, v.Signature) {
		t.Fatal("signed message does not verify")
	}
	if sig := wire.SignForwardKey(id, pub, v.NotAfter); !bytes.Equal(sig[:], v.Signature) {
		t.Fatal("signature")
	}
	fkeys, err := wire.FKeysFrame(id, v.Period, [wire.RouteIDSize]byte(v.Route))
	if err != nil {
		t.Fatal(err)
	}
	fkeys.CID = 1
	if got, _ := wire.AppendFrame(nil, &fkeys); !bytes.Equal(got, v.FKeys) {
		t.Fatalf("FKEYS item:\n got %x\nwant %x", got, v.FKeys)
	}
	parsed, err := wire.ParseFrame(v.FKeys)
	if err != nil || wire.CheckFKeys(&parsed, fp) != nil {
		t.Fatalf("FKEYS does not check: %v", err)
	}

	eph, keys, err := wire.SenderForwardKeys(bytes.NewReader(v.Ephemeral), fp, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(eph[:], v.EphemeralPub) {
		t.Fatal("ephemeral public key")
	}
	ephPriv, _ := crypto.ParseDHPrivate(v.Ephemeral)
	shared, _ := crypto.DH(ephPriv, pub)
	okm := make([]byte, 64)
	crypto.HKDF(okm, shared[:], pub[:], "veil-relay/v1/forward keys")
	if !bytes.Equal(shared[:], v.Shared) || !bytes.Equal(okm, v.OKM) {
		t.Fatal("shared secret or okm")
	}
	ad := append([]byte("veil-relay/v1/fwd"), fp[:]...)
	ad = append(append(ad, eph[:]...), pub[:]...)
	if !bytes.Equal(ad, v.AD) {
		t.Fatal("ad")
	}
	f, err := wire.ParseFrame(v.Item)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := wire.AppendForwardInner(nil, v.Time, &f)
	if err != nil || !bytes.Equal(inner, v.Inner) {
		t.Fatalf("inner: %v", err)
	}
	if tm, p, err := wire.ParseForwardInner(v.Inner); err != nil || tm != v.Time || !bytes.Equal(p.Body, f.Body) {
		t.Fatalf("inner does not parse: %v", err)
	}
	sk, err := wire.ParseFrame(v.SKeyItem)
	if err != nil || sk.Type != wire.TypeSKEY {
		t.Fatalf("SKEY item: %v", err)
	}
	skInner, err := wire.AppendForwardInner(nil, v.Time, &sk)
	if err != nil || !bytes.Equal(skInner, v.SKeyInner) || len(v.SKeyInner) != len(v.Inner) || len(v.Inner) != wire.ForwardPaddedSize {
		t.Fatalf("SKEY inner: %v", err)
	}
	if _, p, err := wire.ParseForwardInner(v.SKeyInner); err != nil || p.ID != sk.ID || p.Cap != sk.Cap {
		t.Fatalf("SKEY inner does not parse: %v", err)
	}
	if got := keys.SealItem(nil, inner); !bytes.Equal(got, v.Sealed) {
		t.Fatal("sealed item")
	}
	k1, _ := crypto.ParseSymKey(v.OKM[:32])
	var zero [crypto.NonceSize]byte
	if got := crypto.Seal(nil, &k1, &zero, v.Inner, v.AD); !bytes.Equal(got, v.Sealed) {
		t.Fatal("sealed item from the formula")
	}
	if got, err := keys.SealReply(bytes.NewReader(v.ReplyNonce), nil, v.Reply); err != nil || !bytes.Equal(got, v.SealedReply) {
		t.Fatalf("sealed reply: %v", err)
	}
	k2, _ := crypto.ParseSymKey(v.OKM[32:])
	replyNonce := [crypto.NonceSize]byte(v.ReplyNonce)
	if got := crypto.Seal(bytes.Clone(v.ReplyNonce), &k2, &replyNonce, v.Reply, v.AD); !bytes.Equal(got, v.SealedReply) {
		t.Fatal("sealed reply from the formula")
	}
	if pt, err := keys.OpenReply(nil, v.SealedReply); err != nil || !bytes.Equal(pt, v.Reply) {
		t.Fatalf("open reply: %v", err)
	}
	dk, err := wire.DestForwardKeys(fk, fp, eph)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := dk.OpenItem(nil, v.Sealed); err != nil || !bytes.Equal(pt, v.Inner) {
		t.Fatalf("destination open: %v", err)
	}
	for name, it := range map[string]hexBytes{"FWD": v.FWD, "RFWD": v.RFWD, "FRES": v.FRES} {
		p, err := wire.ParseFrame(it)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := v.Sealed
		if name == "FRES" {
			want = v.SealedReply
		}
		if !bytes.Equal(p.Body, want) {
			t.Fatalf("%s body", name)
		}
		if name != "FRES" && !bytes.Equal(p.Ephemeral[:], v.EphemeralPub) {
			t.Fatalf("%s ephemeral", name)
		}
	}
}

func TestSignedVectors(t *testing.T) {
	var vs []struct {
		RecipientSeed hexBytes `json:"recipient_seed"`
		Nonce         hexBytes `json:"nonce"`
		Item          hexBytes `json:"item"`
		SignedMessage hexBytes `json:"signed_message"`
	}
	loadJSON(t, "signed.json", &vs)
	if len(vs) != 3 {
		t.Fatalf("%d signed vectors, want 3", len(vs))
	}
	for i, v := range vs {
		k, err := crypto.ParseSignPrivate(v.RecipientSeed)
		if err != nil {
			t.Fatal(err)
		}
		nonce := [wire.NonceSize]byte(v.Nonce)
		f, err := wire.ParseFrame(v.Item)
		if err != nil {
			t.Fatal(err)
		}
		if got := wire.SignedMessage(&nonce, v.Item); !bytes.Equal(got, v.SignedMessage) {
			t.Fatalf("%d: signed message mismatch", i)
		}
		sig := f.Sig
		if err := wire.SignFrame(&f, &nonce, k); err != nil {
			t.Fatal(err)
		}
		if f.Sig != sig { // Ed25519 is deterministic
			t.Fatalf("%d: signature mismatch", i)
		}
		if !wire.VerifyItem(v.Item, &nonce, k.Public()) {
			t.Fatalf("%d: does not verify", i)
		}
		other := nonce
		other[0] ^= 1
		if wire.VerifyItem(v.Item, &other, k.Public()) {
			t.Fatalf("%d: verifies under another connection's nonce", i)
		}
	}
}

// TestCredentialedVectors checks ParseCredentialed and Secret against
// spec/vectors/relay/address-credentialed.json (spec/relay.md §3.5).
func TestCredentialedVectors(t *testing.T) {
	var vs []struct {
		Comment   string   `json:"comment"`
		Input     string   `json:"input"`
		Canonical string   `json:"canonical"`
		Password  hexBytes `json:"password"`
		Secret    string   `json:"secret"`
		Error     bool     `json:"error"`
	}
	loadJSON(t, "address-credentialed.json", &vs)
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		t.Run(v.Comment, func(t *testing.T) {
			c, err := wire.ParseCredentialed(v.Input)
			if v.Error {
				if err == nil {
					t.Fatalf("%q parsed", v.Input)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != v.Canonical || !bytes.Equal(c.Password, v.Password) || c.Secret() != v.Secret {
				t.Fatalf("got %s, %x, %s", c.String(), []byte(c.Password), c.Secret())
			}
			// The canonical address never parses with a password, and
			// ParseAddress refuses the credentialed text.
			if _, err := wire.ParseAddress(v.Secret); (err == nil) != (len(v.Password) == 0) {
				t.Fatalf("ParseAddress(%q): %v", v.Secret, err)
			}
			back, err := wire.ParseCredentialed(v.Secret)
			if err != nil || back.Secret() != v.Secret || back.Address != c.Address {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
}
