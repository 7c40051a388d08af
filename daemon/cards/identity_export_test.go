package cards

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
)

// The label blkid reports for a card labelled with shell metacharacters is
// the label itself (blkid -o export escapes them with backslashes).
func TestBlkidLabelUnescaped(t *testing.T) {
	testenv.Need(t, "mkfs.ext4")
	testenv.Need(t, "blkid")
	for _, label := range []string{`<i>P2&"x'`, `A B\C $d`, "PLAIN"} {
		img := filepath.Join(t.TempDir(), "card.img")
		if out, err := exec.Command("truncate", "-s", "8M", img).CombinedOutput(); err != nil {
			t.Fatalf("truncate: %v %s", err, out)
		}
		if out, err := exec.Command("mkfs.ext4", "-q", "-L", label, img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v %s", err, out)
		}
		if _, got := blkid("", img); got != label {
			t.Errorf("blkid label %q, want %q", got, label)
		}
	}
}
