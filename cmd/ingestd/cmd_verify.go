package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
)

// cmdVerify runs `ingestd verify [--volume NAME] [--json] [PATH]`: the
// running daemon re-reads the masters (POST /v1/verify) and streams
// progress; a corrupt, missing or unreadable master makes the exit status
// non-zero. PATH is a path on this machine inside a volume, or (with
// --volume) a path relative to that volume.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", stderr)
	mk := clientFlags(fs)
	volume := fs.String("volume", "", "only this volume (default: every volume)")
	asJSON := fs.Bool("json", false, "print the daemon's JSON lines")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("verify: at most one PATH")
	}
	c, err := mk()
	if err != nil {
		return err
	}
	q := url.Values{}
	if *volume != "" {
		q.Set("volume", *volume)
	}
	if len(pos) == 1 {
		vol, rel, err := resolveVerifyPath(ctx, c, *volume, pos[0])
		if err != nil {
			return err
		}
		q.Set("volume", vol)
		q.Set("path", rel)
	}
	req, err := c.NewRequest(ctx, http.MethodPost, "/v1/verify", q, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("cannot reach the daemon at %s (is it running? -api/-config): %w", c.Base, err)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var ed wire.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &ed) != nil || ed.Error == "" {
			ed.Error = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusBadRequest {
			return usagef("verify: %s", ed.Error)
		}
		return &api.Error{Code: resp.StatusCode, Msg: ed.Error, Param: ed.Param}
	}
	bar := isTerminal(stderr) && !*asJSON
	var total wire.VerifyLine
	finished := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l wire.VerifyLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("verify: bad line from the daemon: %w", err)
		}
		if *asJSON {
			fmt.Fprintln(stdout, sc.Text())
		}
		switch l.Type {
		case "progress":
			if bar {
				fmt.Fprintf(stderr, "\r%s %s", l.Volume, progressBar(l.FilesDone, l.Files, l.BytesDone, l.Bytes))
			}
			continue
		case "start":
			continue
		case "done":
			finished++
			total.Files += l.Files
			total.Bytes += l.Bytes
			total.OK += l.OK
			total.Corrupt += l.Corrupt
			total.Missing += l.Missing
			total.Changed += l.Changed
			total.Errors += l.Errors
			continue
		}
		if *asJSON {
			continue
		}
		if bar {
			fmt.Fprint(stderr, "\r\033[K")
		}
		switch l.Type {
		case "corrupt":
			fmt.Fprintf(stdout, "CORRUPT\t%s\t%s\tcataloged %s, read %s\n", l.Volume, quote(l.Path), l.AssetID, l.Got)
		case "error":
			if l.Path == "" { // the check itself failed (per-file errors are counted in "done")
				total.Errors++
			}
			fmt.Fprintf(stdout, "ERROR\t%s\t%s\t%s\n", l.Volume, quote(l.Path), l.Detail)
		default:
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", strings.ToUpper(l.Type), l.Volume, quote(l.Path), l.Detail)
		}
	}
	if bar {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("verify: stream from the daemon ended: %w", err)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "verified %d files (%s): %d ok, %d corrupt, %d missing, %d changed since cataloged, %d errors\n",
			total.Files, humanBytes(total.Bytes), total.OK, total.Corrupt, total.Missing, total.Changed, total.Errors)
	}
	switch {
	case finished == 0 && total.Errors == 0:
		return errors.New("verify: the daemon ended the check early")
	case total.Corrupt > 0 || total.Missing > 0 || total.Errors > 0:
		return fmt.Errorf("verify: %d corrupt, %d missing, %d errors", total.Corrupt, total.Missing, total.Errors)
	}
	return nil
}

// resolveVerifyPath maps PATH onto (volume, relative path): an existing
// local path is matched against the daemon's volume roots; otherwise it
// is relative to --volume.
func resolveVerifyPath(ctx context.Context, c *api.Client, volume, p string) (string, string, error) {
	if abs, err := filepath.Abs(p); err == nil && (filepath.IsAbs(p) || volume == "") {
		if _, serr := os.Stat(abs); serr == nil || filepath.IsAbs(p) {
			st, err := c.Status(ctx)
			if err != nil {
				return "", "", fmt.Errorf("cannot reach the daemon at %s (is it running? -api/-config): %w", c.Base, err)
			}
			for _, v := range st.Volumes {
				if volume != "" && v.Name != volume {
					continue
				}
				if rel, err := filepath.Rel(v.Path, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
					if rel == "." {
						rel = ""
					}
					return v.Name, filepath.ToSlash(rel), nil
				}
			}
			return "", "", usagef("verify: %s is not inside a volume", p)
		}
	}
	if volume == "" {
		return "", "", usagef("verify: %s: give --volume for a volume-relative path", p)
	}
	return volume, strings.Trim(filepath.ToSlash(p), "/"), nil
}
