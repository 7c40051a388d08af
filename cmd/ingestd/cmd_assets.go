package main

// `ingestd assets`, `ingestd asset ID` and the one-shot `ingestd status`:
// GET the document, print it as JSON (--json) or as tables.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
)

// cmdClient runs the client commands status, assets and asset.
func cmdClient(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(cmd, stderr)
	mk := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	var after *string
	var limit *int
	if cmd == "assets" {
		after = fs.String("after", "", "list assets after this id")
		limit = fs.Int("limit", 50, "at most this many assets (max 1000)")
	}
	// Flags may come before or after the positional ID.
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case cmd == "asset" && len(pos) != 1:
		return usagef("asset: want exactly one asset ID")
	case cmd != "asset" && len(pos) > 0:
		return usagef("%s: unexpected argument %q", cmd, pos[0])
	}
	c, err := mk()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var v any
	switch cmd {
	case "status":
		v, err = c.Status(ctx)
	case "assets":
		v, err = c.Assets(ctx, *after, *limit)
	case "asset":
		v, err = c.Asset(ctx, pos[0])
	}
	if err != nil {
		var ae *api.Error
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) {
			return fmt.Errorf("cannot reach the daemon at %s (is it running? -api/-config): %w", c.Base, err)
		}
		if errors.As(err, &ae) && ae.Code == 400 {
			return usagef("%v", ae)
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch d := v.(type) {
	case wire.Status:
		printStatus(tw, d, time.Now())
		tw.Flush()
		tty, cols := ttyInfo(stdout)
		printProgress(stdout, d, tty, cols)
	case wire.AssetsPage:
		printAssets(tw, d)
	case wire.Asset:
		printAsset(tw, d)
	}
	return nil
}

func printAssets(w io.Writer, d wire.AssetsPage) {
	fmt.Fprintln(w, "ID\tSIZE\tFIRST SEEN\tLOCATIONS")
	for _, a := range d.Assets {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.ID, humanBytes(a.Size), humanTime(a.FirstSeen), locSummary(a.Locations))
	}
	if d.Next != "" {
		fmt.Fprintf(w, "\nmore: ingestd assets --after %s\n", d.Next)
	}
}

func locSummary(ls []wire.Location) string {
	var present []string
	removed := 0
	for _, l := range ls {
		if l.State == "" || l.State == storage.LocPresent {
			present = append(present, l.Volume+":"+quote(l.Path))
		} else {
			removed++
		}
	}
	var more []string
	if len(present) > 1 {
		more = append(more, fmt.Sprintf("+%d", len(present)-1))
	}
	if removed > 0 {
		more = append(more, fmt.Sprintf("%d removed", removed))
	}
	switch {
	case len(present) == 0:
		return "(" + strings.Join(append([]string{"none present"}, more...), ", ") + ")"
	case len(more) == 0:
		return present[0]
	}
	return present[0] + " (" + strings.Join(more, ", ") + ")"
}

// locState is a location's STATE cell: present, or when and how it left.
func locState(l wire.Location) string {
	if l.State != storage.LocRemoved || l.Removed.IsZero() {
		return l.State
	}
	if l.ReplacedBy != "" {
		return fmt.Sprintf("replaced %s by %.12s", humanTime(l.Removed), l.ReplacedBy)
	}
	return "removed " + humanTime(l.Removed)
}

func printAsset(w io.Writer, a wire.Asset) {
	fmt.Fprintf(w, "id\t%s\n", a.ID)
	fmt.Fprintf(w, "size\t%s (%d bytes)\n", humanBytes(a.Size), a.Size)
	fmt.Fprintf(w, "blake3\t%s\n", a.Hashes.BLAKE3)
	fmt.Fprintf(w, "xxh128\t%s\n", a.Hashes.XXH128)
	fmt.Fprintf(w, "first seen\t%s\n", humanTime(a.FirstSeen))
	if a.Kind != "" {
		fmt.Fprintf(w, "kind\t%s\n", a.Kind)
	}
	if a.Proxy != nil {
		fmt.Fprintf(w, "proxy\t%s\n", a.Proxy.Status)
	}
	if a.Sync != nil {
		fmt.Fprintf(w, "sync\t%s\n", a.Sync.Status)
	}
	fmt.Fprintf(w, "\nVOLUME\tSTATE\tSIZE\tMTIME\tPATH\n")
	for _, l := range a.Locations {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", l.Volume, locState(l), humanBytes(l.Size), humanTime(l.MTime), quote(l.Path))
	}
}
