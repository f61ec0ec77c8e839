// Package internal_test holds meta-tests over the whole tree: every package
// has a doc comment, and low-level packages do not import high-level ones.
package internal_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/fluoro-dev/fluoro/"

type pkg struct {
	dir     string
	hasDoc  bool
	imports map[string]bool
}

func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*pkg{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			switch {
			case d.Name() == "node_modules", d.Name() == "testdata", d.Name() == ".git", d.Name() == "dist",
				d.Name() == ".venv", strings.HasPrefix(d.Name(), ".venv-"),
				rel == "web", rel == "sdk", rel == "bin":
				// Not Go (the web UI's and the SDK's trees, build output,
				// virtual environments), but internal/web is: only the
				// top-level folders are skipped by path.
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		if f.Doc != nil && strings.HasPrefix(strings.TrimSpace(f.Doc.Text()), "Package "+f.Name.Name) ||
			f.Doc != nil && f.Name.Name == "main" && strings.HasPrefix(strings.TrimSpace(f.Doc.Text()), "Command ") {
			p.hasDoc = true
		}
		for _, imp := range f.Imports {
			v, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(v, module) {
				p.imports[strings.TrimPrefix(v, module)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	pkgs := loadPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages; is the walk broken?", len(pkgs))
	}
	// Packages the walk once missed (a folder name it skipped everywhere).
	for _, dir := range []string{filepath.Join("internal", "web"), filepath.Join("cmd", "fluoro")} {
		if pkgs[dir] == nil {
			t.Errorf("the walk did not reach %s", dir)
		}
	}
	for dir, p := range pkgs {
		if !p.hasDoc {
			t.Errorf("package %s has no doc comment (\"// Package name ...\")", dir)
		}
	}
}

// Domain packages sit below the wiring: they must not import the HTTP API,
// the server or the CLI.
func TestLayering(t *testing.T) {
	high := []string{"internal/api", "internal/server", "internal/cli"}
	low := []string{"internal/store", "internal/history", "internal/query", "internal/blob", "internal/ingest", "internal/auth", "internal/live", "internal/config"}
	for dir, p := range loadPackages(t) {
		isLow := false
		for _, l := range low {
			if dir == l || strings.HasPrefix(dir, l+string(os.PathSeparator)) {
				isLow = true
			}
		}
		if !isLow {
			continue
		}
		for imp := range p.imports {
			for _, h := range high {
				if imp == h || strings.HasPrefix(imp, h+"/") {
					t.Errorf("%s imports %s: domain packages must not depend on the API, server or CLI", dir, imp)
				}
			}
		}
	}
}
