package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cards.destinations: strict keys, volumes that exist, errors naming the key.
func TestCardsDestinations(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "a")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	base := "state_dir: " + filepath.Join(dir, "state") + "\nvolumes:\n  - name: footage\n    path: " + vol + "\n"
	for _, tc := range []struct{ name, yaml, err string }{
		{"two", "cards:\n  destinations:\n    - volume: footage\n    - volume: footage\n      path: \"copy/{label}\"\n  cascade: true\n  eject_when_safe: true\n  retry_interval: 5s\n", ""},
		{"unknown volume", "cards:\n  destinations:\n    - volume: footage\n    - volume: shuttle\n", "cards.destinations[1].volume: no volume named \"shuttle\""},
		{"unknown key", "cards:\n  destinations:\n    - volume: footage\n      folder: x\n", "folder"},
		{"both forms", "cards:\n  offload_to: footage\n  destinations:\n    - volume: footage\n", "cards.destinations: give either"},
		{"offload_to unknown", "cards:\n  offload_to: nope\n", "cards.offload_to: no volume named"},
	} {
		c, err := LoadBytes([]byte(base + tc.yaml))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || len(c.Cards.Dests()) != 2 || c.Cards.Dests()[0].Path != "{date}/{label}" || !c.Cards.Cascade {
			t.Errorf("%s: %v %+v", tc.name, err, c.Cards)
		}
	}
}
