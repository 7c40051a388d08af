package cards

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDestinations(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // error substring; "" = valid
	}{
		{"offload_to", Config{OffloadTo: "raid"}, ""},
		{"destinations", Config{Destinations: []DestConfig{{Volume: "raid"}, {Volume: "shuttle", Path: "x/{label}"}}, Cascade: true}, ""},
		{"neither", Config{}, "cards.offload_to: required"},
		{"both", Config{OffloadTo: "raid", Destinations: []DestConfig{{Volume: "raid"}}}, "cards.destinations: give either"},
		{"no volume", Config{Destinations: []DestConfig{{Volume: "raid"}, {Path: "x"}}}, "cards.destinations[1].volume: required"},
		{"bad path", Config{Destinations: []DestConfig{{Volume: "raid", Path: "../{label}"}}}, "cards.destinations[0].path"},
		{"twice", Config{Destinations: []DestConfig{{Volume: "raid"}, {Volume: "raid", Path: DefaultPath}}}, "cards.destinations[1]: same volume"},
		{"cascade alone", Config{OffloadTo: "raid", Cascade: true}, "cards.cascade: needs at least two"},
		{"retry too short", Config{OffloadTo: "raid", RetryInterval: time.Millisecond}, "cards.retry_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.SetDefaults()
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if len(c.Dests()) == 0 || c.Dests()[0].Path == "" {
					t.Fatalf("Dests %+v", c.Dests())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}
