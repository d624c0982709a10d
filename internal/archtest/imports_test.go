// Package archtest enforces the import rules of
// ../shared/design/architecture.md §1 (copied into the table below) with
// `go list -deps`, so a line of code that leaves its room fails CI.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// forbidden maps a package prefix to the veil packages it must never
// depend on, directly or transitively (architecture §1, last column).
var forbidden = map[string][]string{
	"veil/crypto":      {"veil/"}, // crypto imports nothing of veil
	"veil/ratchet":     {"veil/relay", "veil/vault", "veil/client", "veil/tui"},
	"veil/relay/wire":  {"veil/relay/store", "veil/client", "veil/vault", "veil/ratchet", "veil/tui"},
	"veil/relay/store": {"veil/client", "veil/vault", "veil/ratchet", "veil/tui", "veil/relay/wire"},
	"veil/relay":       {"veil/client", "veil/vault", "veil/ratchet", "veil/tui"},
	"veil/vault":       {"veil/relay", "veil/tui", "veil/client", "veil/ratchet"},
	"veil/client":      {"veil/tui", "veil/relay/store"},
	// The client's encodings are pure: no vault, no relay connection.
	"veil/client/internal/format": {"veil/client", "veil/tui", "veil/vault", "veil/relay/conn", "veil/relay/store"},
	"veil/tui":                    {"veil/ratchet", "veil/vault", "veil/relay", "veil/crypto"},
}

// serverOnly lists packages of the relay server that client must not link
// (client may use relay/wire only).
var serverOnly = []string{"veil/relay", "veil/relay/store"}

// directOnly lists packages whose rule applies to their own imports, not
// to everything they link: tui/ reaches ratchet, vault and relay/wire
// through client/ by design (the diagram of architecture §1), and must
// only never import them itself.
var directOnly = map[string]bool{"veil/tui": true}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "veil/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rules := rulesFor(p.ImportPath)
		if rules == nil && !strings.HasPrefix(p.ImportPath, "veil/client") {
			continue
		}
		checked++
		deps := p.Deps
		if directOnly[p.ImportPath] {
			deps = p.Imports
		}
		for _, d := range deps {
			if !strings.HasPrefix(d, "veil/") || d == p.ImportPath {
				continue
			}
			for _, bad := range rules {
				if d == bad || strings.HasPrefix(d, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(d, bad)) {
					t.Errorf("%s imports %s (forbidden by architecture §1)", p.ImportPath, d)
				}
			}
			if strings.HasPrefix(p.ImportPath, "veil/client") {
				for _, s := range serverOnly {
					if d == s {
						t.Errorf("%s links the relay server package %s", p.ImportPath, d)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no veil package was checked")
	}
}

// rulesFor returns the forbidden list of the longest matching prefix.
func rulesFor(path string) []string {
	best := ""
	for prefix := range forbidden {
		if (path == prefix || strings.HasPrefix(path, prefix+"/")) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return nil
	}
	return forbidden[best]
}

// pure lists packages that do no I/O: they import none of impure directly
// (their veil dependencies are held to the table above).
var pure = []string{"veil/client/internal/format", "veil/internal/qr"}

var impure = []string{"net", "os", "io/fs", "os/exec"}

func TestPurePackages(t *testing.T) {
	args := append([]string{"list", "-json"}, pure...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Imports {
			for _, bad := range impure {
				if d == bad || strings.HasPrefix(d, "net/") {
					t.Errorf("%s imports %s: it must stay pure", p.ImportPath, d)
				}
			}
		}
	}
}
