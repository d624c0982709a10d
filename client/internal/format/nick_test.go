package format

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"veil/crypto"
)

func TestNickSkeletonCollides(t *testing.T) {
	same := []string{
		"ana",
		"Ana",
		"ANA",
		"\u0430na",           // Cyrillic а
		"ana\u200d",          // zero-width joiner
		"a\u200bna",          // zero-width space
		"\ufeffana",          // byte order mark
		"ana\ufe0f",          // variation selector
		"\uff41\uff4e\uff41", // full-width ａｎａ
		"\u0430\u043f\u0430", // Cyrillic апа? п is not n: checked below
	}
	want := NickSkeleton("ana")
	for _, n := range same[:len(same)-1] {
		if got := NickSkeleton(n); got != want {
			t.Errorf("NickSkeleton(%+q) = %+q, want %+q", n, got, want)
		}
		if !NicksConfusable(n, "ana") {
			t.Errorf("NicksConfusable(%+q, ana) = false", n)
		}
	}
	for _, pair := range [][2]string{
		{"ana", "anna"},
		{"ana", "an"},
		{"ana", "ama"},
		{"ana", "\u0430\u043f\u0430"}, // Cyrillic п is not n
		{"bob", "alice"},
	} {
		if NicksConfusable(pair[0], pair[1]) {
			t.Errorf("NicksConfusable(%+q, %+q) = true", pair[0], pair[1])
		}
	}
	// Look-alikes only the Unicode data knows.
	for _, pair := range [][2]string{
		{"paypal", "p\u0430yp\u0430l"}, // Cyrillic а
		{"Ian", "lan"},                 // capital I and small l, before folding
		{"IAN", "ian"},                 // case
		{"rn", "m"},                    // r n draws as m
		{"0scar", "Oscar"},             // digit zero
		{"\u03bfmega", "omega"},        // Greek omicron
		{"stra\u00dfe", "STRASSE"},     // ß folds to ss
		{"caf\u00e9", "cafe\u0301"},    // composed and decomposed
		{"x\u202ey", "xy"},             // a bidi override
	} {
		if !NicksConfusable(pair[0], pair[1]) {
			t.Errorf("NicksConfusable(%+q, %+q) = false", pair[0], pair[1])
		}
	}
}

func TestNickSkeletonTableLookup(t *testing.T) {
	if confusablesVersion == "" || len(confusableKeys)%confusableRecord != 0 {
		t.Fatal("malformed table")
	}
	prev := rune(-1)
	for i := 0; i < len(confusableKeys); i += confusableRecord {
		k := rune(confusableKeys[i])<<16 | rune(confusableKeys[i+1])<<8 | rune(confusableKeys[i+2])
		if k <= prev {
			t.Fatalf("table not sorted at U+%04X", k)
		}
		prev = k
		p, ok := confusablePrototype(k)
		if !ok || p == "" || !utf8.ValidString(p) {
			t.Fatalf("U+%04X: prototype %+q, %v", k, p, ok)
		}
	}
	if p, ok := confusablePrototype('\u0430'); !ok || p != "a" {
		t.Errorf("Cyrillic а maps to %+q, %v", p, ok)
	}
	if _, ok := confusablePrototype('a'); ok {
		t.Error("a prototype maps to something")
	}
}

func TestNickTaken(t *testing.T) {
	r, _ := testRoster(t, 3)
	r.Members[0].Nick, r.Members[1].Nick, r.Members[2].Nick = "Ana", "bob", "carol"
	if !r.NickTaken("\u0430na", crypto.SignPublic{}) {
		t.Error("a Cyrillic ana is not taken")
	}
	if r.NickTaken("ana", r.Members[0].Sign) {
		t.Error("a member's own nickname counts against it")
	}
	if r.NickTaken("anna", crypto.SignPublic{}) {
		t.Error("anna is taken")
	}
	if got := r.NickAmbiguous(); got[0] || got[1] || got[2] {
		t.Errorf("NickAmbiguous = %v for distinct nicknames", got)
	}
	r.Members[2].Nick = "B0B"
	if got := r.NickAmbiguous(); got[0] || !got[1] || !got[2] {
		t.Errorf("NickAmbiguous = %v, want [false true true]", got)
	}
}

func TestNickMixesScripts(t *testing.T) {
	for n, want := range map[string]bool{
		"ana":                            false,
		"Ana 2":                          false,
		"\u0430\u043d\u043d\u0430":       false, // all Cyrillic
		"\u0430na":                       true,  // Cyrillic and Latin
		"\u03bfmega":                     true,  // Greek and Latin
		"caf\u00e9":                      false,
		"\u6771\u4eactokyo":              false, // Han and Latin
		"\u3072\u3089\u304c\u306a\u6f22": false, // Hiragana and Han
		"\ud55c\uae00abc":                false, // Hangul and Latin
		"\u0430\u03b1":                   true,  // Cyrillic and Greek
		"a\u0301":                        false, // Inherited
	} {
		if got := NickMixesScripts(n); got != want {
			t.Errorf("NickMixesScripts(%+q) = %v, want %v", n, got, want)
		}
	}
}

// TestNickASCIIShortCuts: the ASCII short cuts of NFKC, NFD and case
// folding agree with the general path on every ASCII character.
func TestNickASCIIShortCuts(t *testing.T) {
	var all []byte
	for c := range 0x80 {
		all = append(all, byte(c))
	}
	for _, s := range []string{string(all), "Member-123", "IAN", "0scar"} {
		if nfkc(s) != norm.NFKC.String(s) || nfd(s) != norm.NFD.String(s) || fold(s) != cases.Fold().String(s) {
			t.Errorf("a short cut differs on %+q", s)
		}
	}
}

// FuzzNickSkeleton: the skeleton is a fixed point (a skeleton's skeleton
// is itself), is NFD, never holds a default-ignorable code point, and a
// nickname is confusable with itself.
func FuzzNickSkeleton(f *testing.F) {
	for _, s := range []string{"ana", "\u0430na", "ana\u200d", "\uff41\uff4e\uff41", "\xff", "", "\u00df\u0130\ufb03"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := NickSkeleton(s)
		if !norm.NFD.IsNormalString(k) {
			t.Fatalf("skeleton %+q of %+q is not NFD", k, s)
		}
		if strings.ContainsFunc(k, defaultIgnorable) {
			t.Fatalf("skeleton %+q of %+q keeps a default-ignorable", k, s)
		}
		if !NicksConfusable(s, s) {
			t.Fatalf("%+q is not confusable with itself", s)
		}
		NickMixesScripts(s)
	})
}
