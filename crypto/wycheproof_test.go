package crypto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Wycheproof vectors (testdata/wycheproof/README.md says where they come
// from) run through veil's wrappers, not the libraries underneath.

type wpFile[G any] struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []G    `json:"testGroups"`
}

type wpTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
}

func (c wpTest) has(flag string) bool { return slices.Contains(c.Flags, flag) }

// hexBytes decodes a JSON hex string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func loadWycheproof[G any](t *testing.T, name string) []G {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	var f wpFile[G]
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.TestGroups) == 0 || f.NumberOfTests == 0 {
		t.Fatalf("%s: no tests", name)
	}
	return f.TestGroups
}

// counter checks at the end that a vector file was not silently skipped.
type counter struct {
	t    *testing.T
	ran  int
	want int
}

func (c *counter) done() {
	c.t.Helper()
	if c.ran < c.want {
		c.t.Fatalf("ran %d vectors, want at least %d", c.ran, c.want)
	}
}

func TestWycheproofX25519(t *testing.T) {
	type test struct {
		wpTest
		Public  hexBytes `json:"public"`
		Private hexBytes `json:"private"`
		Shared  hexBytes `json:"shared"`
	}
	c := counter{t: t, want: 518}
	for _, g := range loadWycheproof[struct{ Tests []test }](t, "x25519_test.json") {
		for _, tc := range g.Tests {
			c.ran++
			priv, err := ParseDHPrivate(tc.Private)
			if err != nil {
				t.Fatalf("tc %d: private key: %v", tc.TcID, err)
			}
			pub, err := ParseDHPublic(tc.Public)
			if err != nil {
				t.Fatalf("tc %d: public key: %v", tc.TcID, err)
			}
			shared, err := DH(priv, pub)
			switch {
			case tc.has("ZeroSharedSecret"):
				// veil refuses low-order points (spec/session.md §1.1).
				if err == nil {
					t.Errorf("tc %d (%s): low-order public key accepted", tc.TcID, tc.Comment)
				}
			case tc.Result == "valid" || tc.Result == "acceptable":
				if err != nil || !bytes.Equal(shared[:], tc.Shared) {
					t.Errorf("tc %d (%s): got %x, %v", tc.TcID, tc.Comment, shared[:], err)
				}
			default:
				if err == nil {
					t.Errorf("tc %d (%s): invalid case accepted", tc.TcID, tc.Comment)
				}
			}
		}
	}
	c.done()
}

func TestWycheproofEd25519(t *testing.T) {
	type group struct {
		PublicKey struct {
			PK hexBytes `json:"pk"`
		} `json:"publicKey"`
		Tests []struct {
			wpTest
			Msg hexBytes `json:"msg"`
			Sig hexBytes `json:"sig"`
		} `json:"tests"`
	}
	c := counter{t: t, want: 151}
	for _, g := range loadWycheproof[group](t, "ed25519_test.json") {
		pub, err := ParseSignPublic(g.PublicKey.PK)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range g.Tests {
			c.ran++
			if got := Verify(pub, tc.Msg, tc.Sig); got != (tc.Result == "valid") {
				t.Errorf("tc %d (%s, %v): Verify = %v", tc.TcID, tc.Comment, tc.Flags, got)
			}
		}
	}
	c.done()
}

func TestWycheproofHKDF(t *testing.T) {
	type test struct {
		wpTest
		IKM  hexBytes `json:"ikm"`
		Salt hexBytes `json:"salt"`
		Info hexBytes `json:"info"`
		Size int      `json:"size"`
		OKM  hexBytes `json:"okm"`
	}
	c := counter{t: t, want: 86}
	for _, g := range loadWycheproof[struct{ Tests []test }](t, "hkdf_sha256_test.json") {
		for _, tc := range g.Tests {
			c.ran++
			out := make([]byte, tc.Size)
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				HKDF(out, tc.IKM, tc.Salt, string(tc.Info))
				return false
			}()
			if tc.Result == "invalid" {
				// Only SizeTooLarge is invalid: a caller bug, so a panic.
				if !panicked {
					t.Errorf("tc %d (%s): no panic", tc.TcID, tc.Comment)
				}
				continue
			}
			if panicked || !bytes.Equal(out, tc.OKM) {
				t.Errorf("tc %d (%s): wrong output", tc.TcID, tc.Comment)
			}
		}
	}
	c.done()
}

func TestWycheproofHMAC(t *testing.T) {
	type group struct {
		TagSize int `json:"tagSize"`
		Tests   []struct {
			wpTest
			Key hexBytes `json:"key"`
			Msg hexBytes `json:"msg"`
			Tag hexBytes `json:"tag"`
		} `json:"tests"`
	}
	c := counter{t: t, want: 174}
	for _, g := range loadWycheproof[group](t, "hmac_sha256_test.json") {
		for _, tc := range g.Tests {
			c.ran++
			mac := MAC(tc.Key, tc.Msg)
			ok := VerifyMAC(mac[:g.TagSize/8], tc.Tag)
			if ok != (tc.Result == "valid") {
				t.Errorf("tc %d (%s): VerifyMAC = %v", tc.TcID, tc.Comment, ok)
			}
			// The chain step is HMAC too: check it on every 32-byte key.
			if len(tc.Key) == KeySize {
				ck, _ := ParseSymKey(tc.Key)
				var mk SymKey
				ChainStep(&ck, &mk, 0x01, 0x02)
				want1, want2 := MAC(tc.Key, []byte{1}), MAC(tc.Key, []byte{2})
				if !bytes.Equal(mk[:], want1[:]) || !bytes.Equal(ck[:], want2[:]) {
					t.Fatalf("tc %d: ChainStep disagrees with HMAC-SHA256", tc.TcID)
				}
			}
		}
	}
	c.done()
}

type aeadGroup struct {
	IVSize  int `json:"ivSize"`
	KeySize int `json:"keySize"`
	TagSize int `json:"tagSize"`
	Tests   []struct {
		wpTest
		Key hexBytes `json:"key"`
		IV  hexBytes `json:"iv"`
		AAD hexBytes `json:"aad"`
		Msg hexBytes `json:"msg"`
		CT  hexBytes `json:"ct"`
		Tag hexBytes `json:"tag"`
	} `json:"tests"`
}

func TestWycheproofChaCha20Poly1305(t *testing.T) {
	c := counter{t: t, want: 316}
	for _, g := range loadWycheproof[aeadGroup](t, "chacha20_poly1305_test.json") {
		for _, tc := range g.Tests {
			if g.IVSize != NonceSize*8 {
				// Other nonce sizes cannot be expressed: Seal and Open take
				// a *[NonceSize]byte. All such cases are invalid ones.
				if tc.Result != "invalid" {
					t.Fatalf("tc %d: valid case with a %d-bit nonce", tc.TcID, g.IVSize)
				}
				continue
			}
			c.ran++
			key, err := ParseSymKey(tc.Key)
			if err != nil {
				t.Fatal(err)
			}
			var nonce [NonceSize]byte
			copy(nonce[:], tc.IV)
			sealed := append(bytes.Clone(tc.CT), tc.Tag...)
			pt, err := Open(nil, &key, &nonce, sealed, tc.AAD)
			if tc.Result == "valid" {
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tc %d (%s): Open: %v", tc.TcID, tc.Comment, err)
				}
				if got := Seal(nil, &key, &nonce, tc.Msg, tc.AAD); !bytes.Equal(got, sealed) {
					t.Errorf("tc %d (%s): Seal differs", tc.TcID, tc.Comment)
				}
			} else if err == nil || pt != nil {
				t.Errorf("tc %d (%s): invalid case opened", tc.TcID, tc.Comment)
			}
		}
	}
	c.done()
}

func TestWycheproofXChaCha20Poly1305(t *testing.T) {
	c := counter{t: t, want: 306}
	for _, g := range loadWycheproof[aeadGroup](t, "xchacha20_poly1305_test.json") {
		for _, tc := range g.Tests {
			key, err := ParseSymKey(tc.Key)
			if err != nil {
				t.Fatal(err)
			}
			// OpenX takes nonce || ciphertext || tag: a nonce of another
			// size shifts the split and must fail to authenticate.
			sealed := append(append(bytes.Clone(tc.IV), tc.CT...), tc.Tag...)
			pt, err := OpenX(nil, &key, sealed, tc.AAD)
			if g.IVSize != XNonceSize*8 {
				if tc.Result == "valid" || err == nil {
					t.Errorf("tc %d: %d-bit nonce: %v", tc.TcID, g.IVSize, err)
				}
				continue
			}
			c.ran++
			if tc.Result == "valid" {
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tc %d (%s): OpenX: %v", tc.TcID, tc.Comment, err)
				}
				// SealX draws its nonce from the reader: feed it the
				// vector's nonce.
				got, err := SealX(nil, &key, tc.Msg, tc.AAD, bytes.NewReader(tc.IV))
				if err != nil || !bytes.Equal(got, sealed) {
					t.Errorf("tc %d (%s): SealX differs", tc.TcID, tc.Comment)
				}
			} else if err == nil || pt != nil {
				t.Errorf("tc %d (%s): invalid case opened", tc.TcID, tc.Comment)
			}
		}
	}
	c.done()
}

func TestWycheproofMLKEM1024Decaps(t *testing.T) {
	type test struct {
		wpTest
		Seed hexBytes `json:"seed"`
		EK   hexBytes `json:"ek"`
		C    hexBytes `json:"c"`
		K    hexBytes `json:"K"`
	}
	c := counter{t: t, want: 193}
	for _, g := range loadWycheproof[struct{ Tests []test }](t, "mlkem_1024_test.json") {
		for _, tc := range g.Tests {
			c.ran++
			priv, err := ParseKEMPrivate(tc.Seed)
			if err != nil {
				if tc.Result == "valid" {
					t.Errorf("tc %d (%s): seed refused: %v", tc.TcID, tc.Comment, err)
				}
				continue
			}
			if len(tc.EK) > 0 && !bytes.Equal(priv.Public().Bytes(), tc.EK) {
				t.Errorf("tc %d (%s): encapsulation key differs", tc.TcID, tc.Comment)
			}
			k, err := Decapsulate(&priv, tc.C)
			if tc.Result == "valid" {
				if err != nil || !bytes.Equal(k[:], tc.K) {
					t.Errorf("tc %d (%s): Decapsulate: %v", tc.TcID, tc.Comment, err)
				}
			} else if err == nil {
				t.Errorf("tc %d (%s): invalid case decapsulated", tc.TcID, tc.Comment)
			}
		}
	}
	c.done()
}

func TestWycheproofMLKEM1024Encaps(t *testing.T) {
	type test struct {
		wpTest
		M  hexBytes `json:"m"`
		EK hexBytes `json:"ek"`
		C  hexBytes `json:"c"`
		K  hexBytes `json:"K"`
	}
	c := counter{t: t, want: 269}
	for _, g := range loadWycheproof[struct{ Tests []test }](t, "mlkem_1024_encaps_test.json") {
		for _, tc := range g.Tests {
			c.ran++
			pub, err := ParseKEMPublic(tc.EK)
			if err != nil {
				if tc.Result == "valid" {
					t.Errorf("tc %d (%s): key refused: %v", tc.TcID, tc.Comment, err)
				}
				continue
			}
			if tc.Result != "valid" {
				t.Errorf("tc %d (%s, %v): invalid key accepted", tc.TcID, tc.Comment, tc.Flags)
				continue
			}
			if !bytes.Equal(pub.Bytes(), tc.EK) {
				t.Errorf("tc %d: Bytes differs", tc.TcID)
			}
			ct, k, err := Encapsulate(pub, bytes.NewReader(tc.M))
			if err != nil || !bytes.Equal(ct, tc.C) || !bytes.Equal(k[:], tc.K) {
				t.Errorf("tc %d (%s): Encapsulate differs: %v", tc.TcID, tc.Comment, err)
			}
		}
	}
	c.done()
}

// TestWycheproofAESGCM runs the AES-256-GCM cases with 96-bit nonces (the
// only ones BlockAEAD can express: its key is a SymKey and its nonce a
// *[NonceSize]byte) through BlockAEAD.
func TestWycheproofAESGCM(t *testing.T) {
	c := counter{t: t, want: 66}
	for _, g := range loadWycheproof[aeadGroup](t, "aes_gcm_test.json") {
		if g.KeySize != 256 || g.IVSize != NonceSize*8 || g.TagSize != Overhead*8 {
			continue
		}
		for _, tc := range g.Tests {
			c.ran++
			key, err := ParseSymKey(tc.Key)
			if err != nil {
				t.Fatal(err)
			}
			a := NewBlockAEAD(BlockAES256GCM, &key)
			var nonce [NonceSize]byte
			copy(nonce[:], tc.IV)
			sealed := append(bytes.Clone(tc.CT), tc.Tag...)
			pt, err := a.Open(nil, &nonce, sealed, tc.AAD)
			if tc.Result == "valid" || tc.Result == "acceptable" {
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tc %d (%s): Open: %v", tc.TcID, tc.Comment, err)
				}
				if got := a.Seal(nil, &nonce, tc.Msg, tc.AAD); !bytes.Equal(got, sealed) {
					t.Errorf("tc %d (%s): Seal differs", tc.TcID, tc.Comment)
				}
			} else if err == nil || pt != nil {
				t.Errorf("tc %d (%s): invalid case opened", tc.TcID, tc.Comment)
			}
		}
	}
	c.done()
}
