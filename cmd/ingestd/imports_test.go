package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCLIImportsNoStage: the command line reads the daemon's documents as
// daemon/api/wire types, never through a stage's own status types (which
// once needed JSON round trips and tied the CLI to every stage).
// daemon/cards/ascmhl is a file format the offline `cards verify` reads,
// not a stage.
func TestCLIImportsNoStage(t *testing.T) {
	stages := []string{"transcode", "analysis", "sync/", "daemon/cards", "daemon/diskguard", "daemon/sequences", "daemon/ingest", "daemon/watch"}
	files, _ := filepath.Glob("*.go")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		n++
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			rel, ok := strings.CutPrefix(p, "github.com/ingestd/ingestd/")
			if !ok || rel == "daemon/cards/ascmhl" {
				continue
			}
			for _, s := range stages {
				if rel == strings.TrimSuffix(s, "/") || strings.HasPrefix(rel, strings.TrimSuffix(s, "/")+"/") {
					t.Errorf("%s imports %s: the CLI decodes daemon/api/wire documents, not a stage's types", f, p)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d CLI files found", n)
	}
}
