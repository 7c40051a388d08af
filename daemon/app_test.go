package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/storage/catalog"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	watch := filepath.Join(dir, "watch")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadBytes([]byte("state_dir: " + filepath.Join(dir, "state") + "\nsettle: 200ms\napi:\n  listen: 127.0.0.1:0\nvolumes:\n  - {name: footage, path: " + watch + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestProvisionFailureClosesCatalog: a failed start (API port taken)
// closes what already started, so the catalog can be opened again.
func TestProvisionFailureClosesCatalog(t *testing.T) {
	c := testConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c.API.Listen = ln.Addr().String()
	err = New(c, quiet).Provision()
	if err == nil || !strings.Contains(err.Error(), "api listen") {
		t.Fatalf("provision with a taken port: %v", err)
	}
	cat, err := catalog.Open(CatalogDir(c.StateDir), catalog.Options{NoSyncWrites: true})
	if err != nil {
		t.Fatalf("catalog still held after a failed start: %v", err)
	}
	cat.Close()
}

// TestServiceFailureStopsDaemon: a non-restartable service error stops
// the App with that error and closes the catalog; cancel is a clean stop.
func TestServiceFailureStopsDaemon(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    bool
		wantErr bool
	}{{"service error", true, true}, {"cancel", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			app := New(c, quiet)
			if err := app.Provision(); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			app.AddService(Service{Name: "stage", Run: func(ctx context.Context) error {
				select {
				case <-app.pipe.Ready():
				case <-ctx.Done():
					return nil
				}
				if tc.fail {
					return boom
				}
				cancel()
				return nil
			}})
			done := make(chan error, 1)
			go func() { done <- app.Run(ctx) }()
			select {
			case err := <-done:
				if tc.wantErr != errors.Is(err, boom) {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("Run did not return")
			}
			cat, err := catalog.Open(CatalogDir(c.StateDir), catalog.Options{NoSyncWrites: true})
			if err != nil {
				t.Fatalf("catalog not closed after Run: %v", err)
			}
			evs, _ := cat.Events(0, 10)
			cat.Close()
			if len(evs) == 0 || evs[0].Type != "appliance.started" {
				t.Errorf("no appliance.started event: %+v", evs)
			}
		})
	}
}
