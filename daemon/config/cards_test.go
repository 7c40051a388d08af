package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The cards: and fixity: sections: defaults, and errors naming the key.
func TestCardsSection(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	if err := os.MkdirAll(a, 0o755); err != nil {
		t.Fatal(err)
	}
	base := "state_dir: " + filepath.Join(dir, "state") + "\nvolumes:\n  - name: footage\n    path: " + a + "\n"
	c, err := LoadBytes([]byte(base + "cards:\n  offload_to: footage\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cards.Path != "{date}/{label}" || len(c.Cards.MountRoots) != 3 || c.Cards.Poll != 2*time.Second ||
		strings.Join(c.Cards.Hashes, ",") != "xxh128" || c.Cards.Mountinfo != "/proc/self/mountinfo" || c.Fixity.Interval != 0 {
		t.Errorf("defaults: %+v %+v", *c.Cards, c.Fixity)
	}
	if c, err := LoadBytes([]byte(base)); err != nil || c.Cards != nil {
		t.Errorf("no cards section: %v %+v", err, c)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"offload_to missing", "cards:\n  poll: 1s\n", "config: cards.offload_to: required"},
		{"offload_to unknown", "cards:\n  offload_to: nas\n", `config: cards.offload_to: no volume named "nas"`},
		{"bad path", "cards:\n  offload_to: footage\n  path: '{date}/{reel}'\n", "config: cards.path: "},
		{"path escapes", "cards:\n  offload_to: footage\n  path: '../{label}'\n", "config: cards.path: "},
		{"bad hash", "cards:\n  offload_to: footage\n  hashes: [blake3]\n", "config: cards.hashes[0]: "},
		{"relative root", "cards:\n  offload_to: footage\n  mount_roots: [media]\n", "config: cards.mount_roots[0]: "},
		{"poll too short", "cards:\n  offload_to: footage\n  poll: 1ms\n", "config: cards.poll: "},
		{"unknown key", "cards:\n  offload: footage\n", `config: unknown key "cards.offload"`},
		{"fixity interval", "fixity:\n  interval: 1s\n", "config: fixity.interval: "},
		{"fixity volume", "fixity:\n  volumes: [nas]\n", `config: fixity.volumes[0]: no volume named "nas"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes([]byte(base + tc.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want %q...", err, tc.want)
			}
		})
	}
}
