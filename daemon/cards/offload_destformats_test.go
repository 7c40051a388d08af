package cards

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testutil"
)

// Hash formats per destination (issue 11 item 5, "hash formats selectable
// per offload"): the card is read once and hashed in every destination's
// formats; each destination's ASC MHL history holds its own formats only.
func TestOffloadMultiHashesPerDestination(t *testing.T) {
	card := multiCard(t)
	a := filepath.Join(testutil.MountTmpfs(t, "32m"), "2026-02-01", "MULTI")
	b := filepath.Join(testutil.MountTmpfs(t, "32m"), "shuttle", "MULTI")
	res, err := OffloadMulti(context.Background(), card.Dir, []Destination{
		{Name: "raid", Dir: a}, // Options.MHLFormats
		{Name: "shuttle", Dir: b, Formats: []ascmhl.Format{ascmhl.MD5, ascmhl.SHA1}}, // its own
	}, Options{MHLFormats: []ascmhl.Format{ascmhl.XXH64}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if f.MHL[ascmhl.XXH64] == "" || f.MHL[ascmhl.MD5] == "" || f.MHL[ascmhl.SHA1] == "" {
			t.Errorf("%s: hashes %v, want xxh64, md5 and sha1 from the one read", f.Path, f.MHL)
		}
	}
	for _, tc := range []struct {
		dir       string
		want, not []string
	}{
		{a, []string{"<xxh64 "}, []string{"<md5 ", "<sha1 ", "<xxh128 "}},
		{b, []string{"<md5 ", "<sha1 "}, []string{"<xxh64 ", "<xxh128 "}},
	} {
		gens := mhlGenerations(t, tc.dir)
		if len(gens) != 1 {
			t.Fatalf("%s: generations %v", tc.dir, gens)
		}
		data, err := os.ReadFile(filepath.Join(tc.dir, ascmhl.FolderName, gens[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s: generation lacks %s", tc.dir, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(string(data), n) {
				t.Errorf("%s: generation has %s, not this destination's format", tc.dir, n)
			}
		}
		checkVerifiedCopy(t, card.Dir, tc.dir)
	}
}

func TestConfigDestinationHashes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string   // error substring; "" = valid
		f0   []string // DestFormats(0), DestFormats(1) when valid
		f1   []string
	}{
		{"default", Config{Destinations: []DestConfig{{Volume: "raid"}, {Volume: "shuttle", Path: "x/{label}"}}}, "", []string{"xxh128"}, []string{"xxh128"}},
		{"cards.hashes", Config{Hashes: []string{"xxh64"}, Destinations: []DestConfig{{Volume: "raid"}, {Volume: "shuttle", Path: "x/{label}"}}}, "", []string{"xxh64"}, []string{"xxh64"}},
		{"override", Config{Hashes: []string{"xxh128"}, Destinations: []DestConfig{{Volume: "raid"}, {Volume: "shuttle", Path: "x/{label}", Hashes: []string{"md5", "sha1"}}}},
			"", []string{"xxh128"}, []string{"md5", "sha1"}},
		{"bad", Config{Destinations: []DestConfig{{Volume: "raid"}, {Volume: "shuttle", Path: "x/{label}", Hashes: []string{"md5", "blake3"}}}}, "cards.destinations[1].hashes[1]", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.SetDefaults()
			err := c.Validate()
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Validate: %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range [][]string{tc.f0, tc.f1} {
				var got []string
				for _, f := range c.DestFormats(i) {
					got = append(got, string(f))
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("DestFormats(%d) = %v, want %v", i, got, want)
				}
			}
		})
	}
}
