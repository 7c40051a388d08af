package daemon

// Operations commands: `ingestd doctor`, `ingestd backup`, `ingestd
// restore`, and the progress section of `ingestd status` (bars on a
// terminal, plain lines when piped).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/doctor"
	"github.com/ingestd/ingestd/storage/catalog"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/transcode"
)

// ErrDoctorFailed is returned by `ingestd doctor` when a check FAILs
// (exit status 1).
var ErrDoctorFailed = errors.New("doctor: some checks failed")

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr)
	path := fs.String("config", defaultClientConfig(), "config file to check (default $INGESTD_CONFIG, else "+SystemConfig+" when readable, else the embedded defaults)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("doctor: unexpected argument %q", fs.Arg(0))
	}
	data := config.DefaultYAML()
	if *path != "" {
		b, err := os.ReadFile(*path)
		if err != nil {
			return &config.Error{Msg: fmt.Sprintf("read %s: %v", *path, err)}
		}
		data = b
	}
	cfg, err := config.Parse(data)
	if err != nil {
		return err // not even decodable: nothing to check against
	}
	cfg.SetDefaults()
	rep := doctor.Run(ctx, cfg, doctor.Options{ConfigErr: cfg.Validate(), ConfigPath: *path, CatalogDir: CatalogDir(cfg.StateDir), IdentityFile: IdentityFile(cfg.StateDir)})
	if *asJSON {
		if err := rep.WriteJSON(stdout); err != nil {
			return err
		}
	} else {
		rep.WriteText(stdout)
	}
	if !rep.OK {
		return ErrDoctorFailed
	}
	return nil
}

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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+BackupPath, nil)
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
		var e api.ErrorDoc
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
		fmt.Fprintf(stderr, "backup: %s written to stdout in %s\n", HumanBytes(n), time.Since(start).Round(time.Millisecond))
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
	fmt.Fprintf(stdout, "backup: %s written to %s in %s\n", HumanBytes(n), dst, time.Since(start).Round(time.Millisecond))
	return nil
}

// cmdRestore loads a backup into the config's state dir, which must be
// empty or absent (restore never merges into a catalog). It runs with the
// daemon stopped: the daemon would hold the catalog.
func cmdRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	path := fs.String("config", defaultClientConfig(), "config file naming state_dir (default $INGESTD_CONFIG, else "+SystemConfig+" when readable)")
	stateDir := fs.String("state-dir", "", "restore into this state dir instead of the config's")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("restore: want exactly one backup FILE (\"-\" for stdin)")
	}
	dir := *stateDir
	if dir == "" {
		if *path == "" {
			return usagef("restore: -config FILE or -state-dir DIR is required")
		}
		data, err := os.ReadFile(*path)
		if err != nil {
			return &config.Error{Msg: fmt.Sprintf("read %s: %v", *path, err)}
		}
		cfg, err := config.Parse(data) // state_dir is all restore needs
		if err != nil {
			return err
		}
		cfg.SetDefaults()
		dir = cfg.StateDir
	}
	var owner *syscall.Stat_t
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("restore: state dir %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("restore: state dir %s is not empty (%d entries, e.g. %s): restore only into an empty state dir; stop the daemon and move the old one aside first", dir, len(ents), ents[0].Name())
	default:
		if fi, err := os.Stat(dir); err == nil {
			owner, _ = fi.Sys().(*syscall.Stat_t)
		}
	}
	var in io.Reader = os.Stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		in = f
	}
	start := time.Now()
	catDir := CatalogDir(dir)
	if err := catalog.Restore(catDir, in); err != nil {
		// Leave the state dir as empty as it was found.
		os.RemoveAll(catDir)
		return fmt.Errorf("restore: %w", err)
	}
	// Run as root into a state dir owned by the service user: hand the
	// restored files to that user, or the daemon could not open them.
	if owner != nil && os.Geteuid() == 0 && owner.Uid != 0 {
		_ = filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
			if err == nil {
				err = os.Lchown(p, int(owner.Uid), int(owner.Gid))
			}
			return err
		})
	}
	fmt.Fprintf(stdout, "restore: catalog restored into %s in %s; start the daemon\n", catDir, time.Since(start).Round(time.Millisecond))
	return nil
}

// ttyInfo reports whether w is a terminal (TCGETS succeeds), and its
// width in columns (80 when unknown).
func ttyInfo(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok {
		return false, 0
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return false, 0
	}
	cols := 80
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col >= 40 {
		cols = int(ws.Col)
	}
	return true, cols
}

// progressItem is one piece of long work in the status document.
type progressItem struct {
	kind   string  // scan | proxy | upload
	name   string  // volume, asset id, object key
	frac   float64 // 0..1; <0: unknown
	detail string
}

// statusProgress extracts long work from a status document: reconcile
// walks in progress, running proxy jobs (FFmpeg progress), uploads.
func statusProgress(s api.Status) []progressItem {
	var items []progressItem
	for _, v := range s.Volumes {
		if v.Scanning {
			d := fmt.Sprintf("%d files, %s so far", v.Files, HumanBytes(v.Bytes))
			if v.LastScan.IsZero() {
				d = "initial scan: " + d
			} else if v.LastScanSeconds > 0 {
				d += fmt.Sprintf(" (last walk took %.1fs)", v.LastScanSeconds)
			}
			items = append(items, progressItem{kind: "scan", name: v.Name, frac: -1, detail: d})
		}
	}
	var proxy transcode.Status
	if s.Proxy != nil && jsonRoundTrip(s.Proxy, &proxy) == nil {
		for _, j := range proxy.Running {
			it := progressItem{kind: "proxy", name: progShortID(j.AssetID), frac: -1}
			if j.DurationUS > 0 {
				it.frac = min(float64(j.OutTimeUS)/float64(j.DurationUS), 1)
				it.detail = fmt.Sprintf("%s / %s", progUS(j.OutTimeUS), progUS(j.DurationUS))
			} else {
				it.detail = progUS(j.OutTimeUS)
			}
			if j.Speed > 0 {
				it.detail += fmt.Sprintf("  %.1fx", j.Speed)
			}
			it.detail += "  " + j.Lane + " " + j.Encoder
			items = append(items, it)
		}
	}
	var cs cardsvc.Status
	if s.Cards != nil && jsonRoundTrip(s.Cards, &cs) == nil {
		for _, c := range cs.Cards {
			for _, d := range c.Destinations {
				if d.State != cards.DestCopying && d.State != cards.DestVerifying {
					continue
				}
				it := progressItem{kind: "card", name: c.Label + " -> " + d.Volume, frac: -1}
				if d.BytesTotal > 0 {
					it.frac = min(float64(d.BytesDone)/float64(d.BytesTotal), 1)
				}
				it.detail = HumanBytes(d.BytesDone) + " / " + HumanBytes(d.BytesTotal) + "  " + d.State
				if d.RateBps > 0 {
					it.detail += "  " + HumanBytes(int64(d.RateBps)) + "/s"
				}
				if d.ETASeconds > 0 {
					it.detail += "  ETA " + (time.Duration(d.ETASeconds) * time.Second).String()
				}
				items = append(items, it)
			}
		}
	}
	var sync SyncStatus
	if s.Sync != nil && jsonRoundTrip(s.Sync, &sync) == nil && sync.S3 != nil {
		for _, f := range sync.S3.InFlight {
			it := progressItem{kind: "upload", name: f.Key, frac: -1, detail: HumanBytes(f.Bytes)}
			if f.Total > 0 {
				it.frac = min(float64(f.Bytes)/float64(f.Total), 1)
				it.detail = HumanBytes(f.Bytes) + " / " + HumanBytes(f.Total)
			}
			if f.Rate > 0 {
				it.detail += "  " + HumanBytes(int64(f.Rate)) + "/s"
			}
			items = append(items, it)
		}
	}
	return items
}

// printProgress writes the long work: bars when tty, else plain lines
// ("progress<TAB>proxy<TAB>ab12…<TAB>45%<TAB>detail").
func printProgress(w io.Writer, s api.Status, tty bool, cols int) {
	items := statusProgress(s)
	var backlog *s3push.Status
	var sync SyncStatus
	if s.Sync != nil && jsonRoundTrip(s.Sync, &sync) == nil && sync.S3 != nil && sync.S3.BacklogObjects > 0 {
		backlog = sync.S3
	}
	if len(items) == 0 && backlog == nil {
		return
	}
	fmt.Fprintln(w)
	for _, it := range items {
		pct := "-"
		if it.frac >= 0 {
			pct = fmt.Sprintf("%.0f%%", it.frac*100)
		}
		if !tty {
			fmt.Fprintf(w, "progress\t%s\t%s\t%s\t%s\n", it.kind, quote(it.name), pct, it.detail)
			continue
		}
		label := fmt.Sprintf("%-6s %s", it.kind, quote(it.name))
		width := max(10, min(40, cols-len(it.detail)-30))
		fmt.Fprintf(w, "%-28s %s %4s  %s\n", progTrim(label, 28), progBar(it.frac, width), pct, it.detail)
	}
	if backlog != nil {
		line := fmt.Sprintf("%d objects, %s in %d assets", backlog.BacklogObjects, HumanBytes(backlog.BacklogBytes), backlog.BacklogAssets)
		if tty {
			fmt.Fprintf(w, "%-28s %s\n", "sync backlog", line)
		} else {
			fmt.Fprintf(w, "progress\tsync-backlog\t-\t-\t%s\n", line)
		}
	}
}

// progBar draws [#####.....] of the given inner width; unknown fraction: a
// marker that says "working" without pretending a share.
func progBar(frac float64, width int) string {
	if frac < 0 {
		return "[" + strings.Repeat("~", width) + "]"
	}
	n := int(frac*float64(width) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func progTrim(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func progShortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

func progUS(us int64) string {
	return (time.Duration(us) * time.Microsecond).Round(100 * time.Millisecond).String()
}

// jsonRoundTrip converts a decoded JSON section (map[string]any on the client,
// a typed struct in the daemon) into out.
func jsonRoundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// statusWatch extracts `-watch DURATION` (or -watch=D, --watch) from the
// status command's arguments; ok is false when it is absent.
func statusWatch(args []string) (every time.Duration, rest []string, ok bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "watch" {
			rest = append(rest, a)
			continue
		}
		ok = true
		if !hasVal {
			if i+1 >= len(args) {
				return 0, nil, true, usagef("status: -watch needs a duration, e.g. -watch 2s")
			}
			i++
			val = args[i]
		}
		every, err = time.ParseDuration(val)
		if err != nil || every < 100*time.Millisecond {
			return 0, nil, true, usagef("status: -watch wants a duration of at least 100ms, got %q", val)
		}
	}
	return every, rest, ok, nil
}

// cmdStatusWatch repeats `ingestd status` every interval until ctx ends or
// the daemon cannot be reached: on a terminal it redraws the screen (the
// bars move), piped it appends one block per interval.
func cmdStatusWatch(ctx context.Context, every time.Duration, args []string, stdout, stderr io.Writer) error {
	tty, _ := ttyInfo(stdout)
	for {
		if tty {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
		}
		if err := cmdClient(ctx, "status", args, stdout, stderr); err != nil {
			return err
		}
		if !tty {
			fmt.Fprintln(stdout)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}
