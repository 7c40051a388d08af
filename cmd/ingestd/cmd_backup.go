package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon"
	"github.com/ingestd/ingestd/daemon/api/wire"
)

// cmdBackup downloads the running daemon's catalog backup stream
// (GET /v1/admin/backup) into FILE ("-": stdout). The file appears under
// its name only once complete.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	mk := clientFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("backup: want exactly one FILE (\"-\" for stdout)")
	}
	c, err := mk()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+daemon.BackupPath, nil)
	if err != nil {
		return usagef("backup: %v", err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the daemon at %s (is it running? -api/-config): %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e wire.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("backup: %s: %s", resp.Status, e.Error)
	}
	start := time.Now()
	if pos[0] == "-" {
		n, err := io.Copy(stdout, resp.Body)
		if err != nil {
			return fmt.Errorf("backup: interrupted after %d bytes: %w", n, err)
		}
		fmt.Fprintf(stderr, "backup: %s written to stdout in %s\n", humanBytes(n), time.Since(start).Round(time.Millisecond))
		return nil
	}
	dst := pos[0]
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup %s: interrupted after %d bytes (nothing written under that name): %w", dst, n, err)
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	fmt.Fprintf(stdout, "backup: %s written to %s in %s\n", humanBytes(n), dst, time.Since(start).Round(time.Millisecond))
	return nil
}
