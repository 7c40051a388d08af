package cards

import (
	"testing"
	"time"
)

func TestDestPath(t *testing.T) {
	id := Identity{Label: "A001/B", UUID: "u-1", Layout: LayoutP2, Fingerprint: "0123456789abcdef0123"}
	at := time.Date(2026, 2, 1, 10, 15, 30, 0, time.UTC)
	for _, tc := range []struct {
		tmpl, want string
		bad        bool
	}{
		{"{date}/{label}", "2026-02-01/A001_B", false},
		{"cards/{layout}/{date}_{time}/{uuid}", "cards/panasonic_p2/2026-02-01_101530/u-1", false},
		{"{date}/{nope}", "", true},
		{"/abs/{label}", "", true},
		{"../{label}", "", true},
		{"", "", true},
	} {
		got, err := DestPath(tc.tmpl, id, at)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("DestPath(%q) = %q, %v; want %q bad=%v", tc.tmpl, got, err, tc.want, tc.bad)
		}
	}
	if got, _ := DestPath("{label}", Identity{Fingerprint: "abcdefabcdefabcdef"}, at); got != "card-abcdefabcdef" {
		t.Errorf("label of a card without label or uuid: %q", got)
	}
	o := Origin(id, Result{Layout: LayoutP2, Finished: at})
	if o.CardLabel != "A001/B" || o.CardLayout != "panasonic_p2" || !o.OffloadAt.Equal(at) {
		t.Errorf("origin %+v", o)
	}
}
