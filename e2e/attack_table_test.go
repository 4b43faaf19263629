package e2e_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/e2e/harness"
)

// TestSecurityTableIsCurrent keeps docs/SECURITY.md honest: every test it names exists (and
// every subtest name it gives is, exactly, a string literal in that test's file), every
// section A–J has a row,
// every row has a result, and every e2e TestAttack*/TestFault* test is in the table.
func TestSecurityTableIsCurrent(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`^\| ([A-Z]) \| (.+?) \| (.+?) \| (.+?) \|$`)
	ref := regexp.MustCompile("`([A-Za-z0-9_/.\\-]+)`")
	sections := map[string]int{}
	named := map[string]bool{}
	pkgs := map[string]*testPackage{}
	load := func(dir string) *testPackage {
		if p, ok := pkgs[dir]; ok {
			return p
		}
		p := parseTests(t, filepath.Join(root, dir))
		pkgs[dir] = p
		return p
	}
	for _, line := range strings.Split(string(doc), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, cell, result := m[1], m[3], strings.TrimSpace(m[4])
		sections[sec]++
		if result == "" {
			t.Errorf("row %q has no result", m[2])
		}
		refs := ref.FindAllStringSubmatch(cell, -1)
		if len(refs) == 0 {
			if !strings.HasPrefix(result, "open") {
				t.Errorf("row %q names no test but is not marked open", m[2])
			}
			continue
		}
		for _, r := range refs {
			name := r[1]
			dir := "e2e"
			if i := strings.LastIndex(name, "."); i >= 0 {
				dir, name = name[:i], name[i+1:]
			}
			fn, subs, _ := strings.Cut(name, "/")
			p := load(dir)
			file, ok := p.funcs[fn]
			if !ok {
				t.Errorf("section %s: %s names %s, which is not a test function in %s", sec, m[2], fn, dir)
				continue
			}
			if dir == "e2e" {
				named[fn] = true
			}
			if subs == "" {
				continue
			}
			for _, sub := range strings.Split(subs, "/") {
				if !p.hasSubtestName(file, sub) {
					t.Errorf("section %s: subtest %q of %s is not the name of a subtest in %s", sec, sub, fn, file)
				}
			}
		}
	}
	for _, s := range strings.Split("A B C D E F G H I J", " ") {
		if sections[s] == 0 {
			t.Errorf("section %s has no row", s)
		}
	}
	for fn := range load("e2e").funcs {
		if (strings.HasPrefix(fn, "TestAttack") || strings.HasPrefix(fn, "TestFault")) && !named[fn] {
			t.Errorf("%s is not in docs/SECURITY.md", fn)
		}
	}
}

// testPackage is the test functions of one folder (whatever their build tags) and the string
// literals of each file.
type testPackage struct {
	funcs    map[string]string   // function name → file
	literals map[string][]string // file → string literals
}

func parseTests(t *testing.T, dir string) *testPackage {
	t.Helper()
	p := &testPackage{funcs: map[string]string{}, literals: map[string][]string{}}
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if len(files) == 0 {
		t.Fatalf("no test files in %s", dir)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Recv == nil && (strings.HasPrefix(n.Name.Name, "Test") || strings.HasPrefix(n.Name.Name, "Fuzz")) {
					p.funcs[n.Name.Name] = path
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, err := strconv.Unquote(n.Value); err == nil {
						p.literals[path] = append(p.literals[path], s)
					}
				}
			}
			return true
		})
	}
	return p
}

// hasSubtestName reports whether a string literal of file is exactly sub once the testing
// package has rewritten it into a subtest name (spaces become underscores). A name only
// part of a literal (a prefix of a longer subtest's name) does not count.
func (p *testPackage) hasSubtestName(file, sub string) bool {
	for _, s := range p.literals[file] {
		if strings.ReplaceAll(s, " ", "_") == sub {
			return true
		}
	}
	return false
}

// TestSubtestNamesMatchExactly: the table's subtest check takes whole names, not substrings.
func TestSubtestNamesMatchExactly(t *testing.T) {
	p := &testPackage{literals: map[string][]string{"f": {"duplicate_alg_header", "expired and badly signed"}}}
	for sub, want := range map[string]bool{
		"duplicate_alg_header": true, "expired_and_badly_signed": true,
		"duplicate_alg": false, "alg_header": false, "duplicate_alg_header_x": false, "expired": false,
	} {
		if got := p.hasSubtestName("f", sub); got != want {
			t.Errorf("hasSubtestName(%q) = %v, want %v", sub, got, want)
		}
	}
}
