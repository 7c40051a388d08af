package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/storage/catalog"
)

func TestExitStatus(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, 0},
		{"runtime", errors.New("daemon unreachable"), 1},
		{"doctor failed", ErrDoctorFailed, 1},
		{"usage", usagef("unknown command %q", "x"), 64},
		{"wrapped usage", fmt.Errorf("run: %w", usagef("bad flag")), 64},
		{"config", &config.Error{Key: "settle", Msg: "bad"}, 78},
		{"wrapped config", fmt.Errorf("reload: %w", &config.Error{Msg: "read x"}), 78},
		{"catalog identity", fmt.Errorf("open catalog in /s/catalog: %w", &catalog.IdentityError{Dir: "/s/catalog", Reason: "MANIFEST is missing"}), 65},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitStatus(tc.err); got != tc.want {
				t.Errorf("exitStatus(%v) = %d, want %d", tc.err, got, tc.want)
			}
			if got := exitStatus(tc.err); got == 2 {
				t.Errorf("status 2 is Go's crash status and must never be chosen")
			}
		})
	}
}
