// Command hubfeed is the reference hub consumer (package sync/hubfeed): it
// follows the feeds of several appliances with persisted cursors and prints
// every event as one JSON line {"source","appliance_id","catalog_id","event"}
// on stdout, at least once (dedupe on appliance_id, catalog_id, event.seq).
//
//	hubfeed -state DIR -source box1=http://10.0.0.5:8470[,TOKEN_FILE] -source …
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ingestd/ingestd/sync/hubfeed"
)

func main() {
	var cfg hubfeed.Config
	flag.StringVar(&cfg.StateDir, "state", ".", "directory of the cursor files")
	flag.BoolVar(&cfg.DetectGaps, "gaps", true, "warn of gaps in seq (the feed is contiguous: a gap is lost events)")
	flag.Func("source", "NAME=URL[,TOKEN_FILE] (repeat per appliance)", func(v string) error {
		name, rest, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("want NAME=URL[,TOKEN_FILE], got %q", v)
		}
		u, tf, _ := strings.Cut(rest, ",")
		s := hubfeed.Source{Name: name, URL: u}
		if tf != "" {
			b, err := os.ReadFile(tf)
			if err != nil {
				return err
			}
			s.Token = strings.TrimSpace(string(b))
		}
		cfg.Sources = append(cfg.Sources, s)
		return nil
	})
	flag.Parse()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Deliver = func(_ context.Context, b hubfeed.Batch) error {
		var out []byte
		for _, ev := range b.Events {
			line, _ := json.Marshal(map[string]any{"source": b.Source, "appliance_id": b.ApplianceID, "catalog_id": b.CatalogID, "event": ev.Raw})
			out = append(append(out, line...), '\n')
		}
		_, err := os.Stdout.Write(out) // one write per batch: a kill never tears a line
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := hubfeed.New(cfg)
	if err == nil {
		err = c.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubfeed:", err)
		os.Exit(1)
	}
}
