package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/sync/webhook"
)

func TestPermissionWarnings(t *testing.T) {
	cases := []struct {
		name      string
		apiMode   os.FileMode
		hubMode   os.FileMode
		stateMode os.FileMode
		hubGID    int // -1: the state dir's group
		want      []string
	}{
		{name: "private", apiMode: 0o600, hubMode: 0o600, stateMode: 0o750, hubGID: -1},
		{name: "group of the daemon", apiMode: 0o640, hubMode: 0o640, stateMode: 0o750, hubGID: -1},
		{name: "world-readable api token", apiMode: 0o644, hubMode: 0o600, stateMode: 0o750, hubGID: -1, want: []string{"api.token_file: ", "readable by every user"}},
		{name: "world-readable hub token", apiMode: 0o600, hubMode: 0o604, stateMode: 0o750, hubGID: -1, want: []string{"hub.webhook.token_file: ", "readable by every user"}},
		{name: "other group", apiMode: 0o600, hubMode: 0o640, stateMode: 0o750, hubGID: 4242, want: []string{"hub.webhook.token_file: ", "readable by group 4242"}},
		{name: "state dir open", apiMode: 0o600, hubMode: 0o600, stateMode: 0o755, hubGID: -1, want: []string{"state_dir: ", "open to every user"}},
		{name: "state dir searchable", apiMode: 0o600, hubMode: 0o600, stateMode: 0o751, hubGID: -1, want: []string{"state_dir: "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			api, hub := filepath.Join(dir, "api"), filepath.Join(dir, "hub")
			for p, m := range map[string]os.FileMode{api: tc.apiMode, hub: tc.hubMode} {
				if err := os.WriteFile(p, []byte("tok\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, m); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(state, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(state, tc.stateMode); err != nil {
				t.Fatal(err)
			}
			if tc.hubGID >= 0 {
				if os.Geteuid() != 0 {
					t.Skip("chgrp to another group needs root")
				}
				if err := os.Chown(hub, -1, tc.hubGID); err != nil {
					t.Fatal(err)
				}
			}
			c := &Config{StateDir: state}
			c.API.TokenFile = api
			c.Hub.Webhook = &webhook.Config{TokenFile: hub}
			ws := c.PermissionWarnings()
			var all []string
			for _, w := range ws {
				all = append(all, w.String())
			}
			got := strings.Join(all, "\n")
			if len(tc.want) == 0 {
				if len(ws) != 0 {
					t.Errorf("want no warning, got:\n%s", got)
				}
				return
			}
			if len(ws) != 1 {
				t.Errorf("want one warning, got %d:\n%s", len(ws), got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("warnings lack %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestValidateEmptyTokenFile: validate refuses an api.token_file that the
// daemon's start would refuse (empty or blank), naming the key.
func TestValidateEmptyTokenFile(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", " \n\t\n"} {
		tok := filepath.Join(dir, "token")
		if err := os.WriteFile(tok, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c := &Config{}
		c.API.Listen = "127.0.0.1:8470"
		c.API.TokenFile = tok
		err := c.validateAPI()
		if err == nil || !strings.Contains(err.Error(), "api.token_file") || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("token %q: %v, want an api.token_file error saying empty", content, err)
		}
	}
	tok := filepath.Join(dir, "good")
	if err := os.WriteFile(tok, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Config{}
	c.API.Listen = "0.0.0.0:8470"
	c.API.TokenFile = tok
	if err := c.validateAPI(); err != nil {
		t.Errorf("good token: %v", err)
	}
}
