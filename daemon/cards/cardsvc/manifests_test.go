package cardsvc

import (
	"testing"

	"github.com/ingestd/ingestd/daemon/cards"
)

func TestManifestNote(t *testing.T) {
	ok := cards.ManifestCheck{File: "A.md5", OK: true}
	bad := cards.ManifestCheck{File: "B.xxhash"}
	for _, tc := range []struct {
		name string
		ms   []cards.ManifestCheck
		want string
	}{
		{"none", nil, ""},
		{"all match", []cards.ManifestCheck{ok, ok}, ""},
		{"one of two", []cards.ManifestCheck{ok, bad}, "; 1 of 2 checksum manifests on the card do not match (see manifests)"},
		{"all bad", []cards.ManifestCheck{bad}, "; 1 of 1 checksum manifests on the card do not match (see manifests)"},
	} {
		if got := manifestNote(tc.ms); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// 300 manifests, 3 of them not matching, the last ones: those are
	// kept in the 50 listed, and the note counts them.
	many := make([]cards.ManifestCheck, 300)
	for i := range many {
		many[i] = ok
	}
	many[297], many[298], many[299] = bad, bad, bad
	capped := capManifests(many)
	if len(capped) != MaxManifestsShown || capped[0].OK || capped[2].OK || !capped[3].OK {
		t.Errorf("capManifests kept %d, not failures first: %+v", len(capped), capped[:4])
	}
	if got, want := manifestNote(capped), "; 3 checksum manifests on the card do not match (see manifests)"; got != want {
		t.Errorf("note %q, want %q", got, want)
	}
}
