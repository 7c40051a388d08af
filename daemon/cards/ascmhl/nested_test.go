package ascmhl

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
)

// Verify (ingestd cards verify) on a folder the reference sealed with a
// nested history and a renamed file: the files below the nested history
// are checked against it (not "new"), the renamed file is not "missing";
// a changed nested file fails.
func TestVerifyNestedAndRenamed(t *testing.T) {
	run := testenv.ASCMHL(t)
	root := t.TempDir()
	for rel, data := range map[string]string{"roll/clip/A.R3D": "a", "roll/clip/B.R3D": "b", "notes.txt": "n"} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ref := func(args ...string) {
		t.Helper()
		if out, err := testenv.RunASCMHL(t, run, "ascmhl", args...); err != nil {
			t.Fatalf("reference %v: %v\n%s", args, err, out)
		}
	}
	ref("create", "-h", "xxh64", filepath.Join(root, "roll/clip"))
	ref("create", "-h", "xxh64", root)
	if err := os.Rename(filepath.Join(root, "notes.txt"), filepath.Join(root, "notes2.txt")); err != nil {
		t.Fatal(err)
	}
	ref("create", "-dr", "-h", "xxh64", root)
	rep, err := Verify(context.Background(), root)
	if err != nil || !rep.OK() || len(rep.Verified) != 3 {
		t.Fatalf("verify: %v: %s", err, rep)
	}
	if err := os.WriteFile(filepath.Join(root, "roll/clip/B.R3D"), []byte("B"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(context.Background(), root)
	if err != nil || rep.OK() || len(rep.Failed) != 1 || rep.Failed[0].Path != "roll/clip/B.R3D" {
		t.Fatalf("verify after a nested file changed: %v: %s", err, rep)
	}
}
