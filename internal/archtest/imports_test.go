// Package archtest enforces the package table of docs/ARCHITECTURE.md:
// every package of the module has a row, imports directly only what its row
// allows, never links what its row forbids, and a pure package touches
// neither the network nor the file system and starts no goroutine. The
// table is parsed from the document itself, so the map and the rule cannot
// drift apart.
package archtest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const doc = "../../docs/ARCHITECTURE.md"

// impureStd lists the standard packages a pure package may not import
// directly: the network, the file system, the process and logging (each
// with the packages below it, but for the value types of pureStd).
var impureStd = []string{"net", "os", "io/fs", "io/ioutil", "path/filepath", "syscall", "log"}

// pureStd are value types under an impure prefix: addresses and URLs,
// parsed and printed without I/O.
var pureStd = []string{"net/netip", "net/url"}

// row is one line of the package table.
type row struct {
	pkg     string
	veil    []string // veil packages it may import directly
	modules []string // third-party modules it may import directly
	never   []string // veil packages it must never link; "p/..." is p and below
	pure    bool
}

type pkg struct {
	ImportPath   string
	Dir          string
	Imports      []string
	Deps         []string
	GoFiles      []string
	TestGoFiles  []string
	XTestGoFiles []string
}

var ticked = regexp.MustCompile("`([^`]+)`")

// parseTable reads the rows between the archtest markers of the document.
func parseTable(t *testing.T, text string) map[string]row {
	t.Helper()
	begin := strings.Index(text, "<!-- archtest:begin -->")
	end := strings.Index(text, "<!-- archtest:end -->")
	if begin < 0 || end < begin {
		t.Fatalf("%s: no archtest markers around the package table", doc)
	}
	rows := map[string]row{}
	for _, line := range strings.Split(text[begin:end], "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`veil") {
			continue
		}
		list := func(c string) []string {
			var out []string
			for _, m := range ticked.FindAllStringSubmatch(c, -1) {
				out = append(out, m[1])
			}
			return out
		}
		r := row{
			pkg:     list(cells[0])[0],
			veil:    list(cells[2]),
			modules: list(cells[3]),
			never:   list(cells[4]),
			pure:    strings.TrimSpace(cells[5]) == "yes",
		}
		if _, dup := rows[r.pkg]; dup {
			t.Errorf("%s: two rows for %s", doc, r.pkg)
		}
		rows[r.pkg] = r
	}
	if len(rows) == 0 {
		t.Fatalf("%s: the package table has no rows", doc)
	}
	return rows
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "veil/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no veil package")
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") && first != "veil"
}

func within(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestPackageTable(t *testing.T) {
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	rows := parseTable(t, string(text))
	pkgs := listPackages(t)
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
		r, ok := rows[p.ImportPath]
		if !ok {
			t.Errorf("%s has no row in docs/ARCHITECTURE.md: add one (job, what it may import, pure or not)", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(imp, "veil/"):
				if !slices.Contains(r.veil, imp) {
					t.Errorf("%s imports %s, which its row does not allow", p.ImportPath, imp)
				}
			case isStd(imp):
				if r.pure && !slices.Contains(pureStd, imp) {
					for _, bad := range impureStd {
						if within(imp, bad) {
							t.Errorf("%s is pure but imports %s", p.ImportPath, imp)
						}
					}
				}
			default:
				allowed := false
				for _, m := range r.modules {
					allowed = allowed || within(imp, m)
				}
				if !allowed {
					t.Errorf("%s imports %s, whose module its row does not allow", p.ImportPath, imp)
				}
			}
		}
		for _, d := range p.Deps {
			for _, bad := range r.never {
				if matches(d, bad) {
					t.Errorf("%s links %s, which its row forbids", p.ImportPath, d)
				}
			}
		}
	}
	for name := range rows {
		if !seen[name] {
			t.Errorf("docs/ARCHITECTURE.md has a row for %s, which is not a package", name)
		}
	}
}

// TestPureStartsNoGoroutine proves what CI relies on when it runs the pure
// packages without the race detector: none of their files, tests
// included, holds a go statement, and every veil package they import is
// pure too.
func TestPureStartsNoGoroutine(t *testing.T) {
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	rows := parseTable(t, string(text))
	fset := token.NewFileSet()
	pure := 0
	for _, p := range listPackages(t) {
		r, ok := rows[p.ImportPath]
		if !ok || !r.pure {
			continue
		}
		pure++
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "veil/") && !rows[imp].pure {
				t.Errorf("%s is pure but imports %s, which is not", p.ImportPath, imp)
			}
		}
		files := append(append(append([]string{}, p.GoFiles...), p.TestGoFiles...), p.XTestGoFiles...)
		for _, name := range files {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if g, ok := n.(*ast.GoStmt); ok {
					t.Errorf("%s: pure package %s starts a goroutine", fset.Position(g.Pos()), p.ImportPath)
				}
				return true
			})
		}
	}
	if pure == 0 {
		t.Fatal("no pure package in the table")
	}
}

// TestTableParsesRules checks the parser on a table of its own, so a
// formatting slip in the document cannot silently drop every rule.
func TestTableParsesRules(t *testing.T) {
	rows := parseTable(t, "<!-- archtest:begin -->\n"+
		"| package | job | veil | modules | never | pure |\n|---|---|---|---|---|---|\n"+
		"| `veil/a` | x | `veil/b`, `veil/c` | `golang.org/x/crypto` | `veil/d` | yes |\n"+
		"| `veil/b` | y | — | — | — | no |\n<!-- archtest:end -->")
	a, b := rows["veil/a"], rows["veil/b"]
	if len(rows) != 2 || !a.pure || b.pure || len(a.veil) != 2 || a.modules[0] != "golang.org/x/crypto" || a.never[0] != "veil/d" || len(b.veil) != 0 {
		t.Fatalf("parsed %+v", rows)
	}
}

// matches reports whether path matches a pattern of the "never links"
// column: an exact package, or "p/..." for p and every package below it.
func matches(path, pattern string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return within(path, p)
	}
	return path == pattern
}
