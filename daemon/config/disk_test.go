package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/daemon/diskguard"
)

// The disk: section: default floor, strict decoding, errors naming the key.
func TestDiskSection(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "a")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	base := "state_dir: " + filepath.Join(dir, "state") + "\nvolumes:\n  - name: footage\n    path: " + vol + "\n"
	for _, tc := range []struct{ name, yaml, want, err string }{
		{"default", "", diskguard.DefaultMinFree, ""},
		{"size", "disk:\n  min_free: 512MiB\n", "512MiB", ""},
		{"percent", "disk:\n  min_free: 5%\n", "5%", ""},
		{"bad size", "disk:\n  min_free: lots\n", "", "config: disk.min_free: invalid size"},
		{"bad percent", "disk:\n  min_free: 120%\n", "", "config: disk.min_free: invalid percentage"},
		{"unknown key", "disk:\n  min_fre: 1GiB\n", "", "min_fre"},
	} {
		c, err := LoadBytes([]byte(base + tc.yaml))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || c.Disk.MinFree != tc.want {
			t.Errorf("%s: %v %+v, want min_free %q", tc.name, err, c, tc.want)
		}
	}
}
