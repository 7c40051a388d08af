package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/internal/redact"
)

// UsageError is a command-line mistake (exit status ExitUsage, 64).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

const usage = `usage: ingestd COMMAND [flags]

commands:
  run [-config FILE]                      run the daemon (embedded defaults without -config)
  validate -config FILE                   check a config file; prints "config OK"
  status [--json] [-watch 2s]             the running daemon's status (-watch: redraw every interval)
  assets [--json] [--after ID] [--limit N] list cataloged assets
  asset ID [--json]                       one asset with its locations
  cards [--json]                          camera cards: state, progress per destination, SAFE TO FORMAT or not
  verify [--volume NAME] [--json] [PATH]  re-read masters against the catalog (exit 1 on a mismatch)
  doctor [-config FILE] [--json]          check ffmpeg, encoders, GPU, inotify, state dir, volumes, hub (exit 1 on FAIL)
  backup FILE                             the running daemon's catalog backup stream into FILE ("-": stdout)
  restore [-config FILE] FILE             restore a backup into an empty state dir (daemon stopped)
  reset-catalog [-config FILE] --yes      move the catalog aside and start a new one (daemon stopped;
                                          new catalog id, feed restarts at seq 1: reset the hub's cursor)
  version                                 print the version

client commands take -config FILE (for api.listen and api.token_file;
default $INGESTD_CONFIG, else /etc/ingestd/ingestd.yaml when readable)
or -api URL and -token-file FILE.
`

// Main runs one ingestd command. The caller maps the error to an exit
// status with ExitStatus: nil 0, *UsageError 64, *config.Error 78,
// catalog.ErrIdentityMismatch 65, anything else 1.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("missing command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "verify":
		return cmdVerify(ctx, rest, stdout, stderr)
	case "status", "assets", "asset":
		if every, r, ok, err := statusWatch(rest); cmd == "status" && (ok || err != nil) { // cli_ops.go
			if err != nil {
				return err
			}
			return cmdStatusWatch(ctx, every, r, stdout, stderr)
		}
		return cmdClient(ctx, cmd, rest, stdout, stderr)
	case "cards":
		return cmdCards(ctx, rest, stdout, stderr) // cli_cards.go
	case "doctor":
		return cmdDoctor(ctx, rest, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, stdout, stderr)
	case "restore":
		return cmdRestore(rest, stdout, stderr)
	case "reset-catalog":
		return cmdResetCatalog(rest, stdout, stderr) // cli_reset.go
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "ingestd", Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", cmd)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ingestd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usagef("%s: help requested", fs.Name())
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

// parseInterleaved parses fs from args where flags may stand before or
// after the positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// loadConfig loads FILE, or the embedded defaults when path is empty
// (creating ./watch, which they name).
func loadConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	c, err := config.Parse(config.DefaultYAML())
	if err != nil {
		return nil, err
	}
	for _, v := range c.Volumes {
		if err := os.MkdirAll(v.Path, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", v.Path, err)
		}
	}
	c.SetDefaults()
	return c, c.Validate()
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	path := fs.String("config", "", "config file to check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("validate: -config FILE is required")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	for _, w := range cfg.PermissionWarnings() {
		fmt.Fprintln(stderr, "warning: config:", w)
	}
	fmt.Fprintln(stdout, "config OK")
	return nil
}

// NewLogger builds the slog logger for a config's log section.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	// redact.Handler: no URL secret (userinfo, query) reaches the log.
	if c.Format == "json" {
		return slog.New(redact.Handler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(redact.Handler(slog.NewTextHandler(w, opts)))
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	path := fs.String("config", "", "config file (default: embedded defaults: ./watch, ./state, 127.0.0.1:8470)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := NewLogger(cfg.Log, stderr)
	app := New(cfg, log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := app.Provision(); err != nil {
		return err
	}
	go func() {
		for s := range sigs {
			switch {
			case s == syscall.SIGHUP:
				reload(app, *path, log)
			case ctx.Err() != nil:
				// A second SIGINT/SIGTERM: the operator does not want to wait
				// for the drain. The catalog recovers like after a crash.
				log.Warn("second signal; exiting without draining", "component", "daemon", "signal", s.String())
				os.Exit(1)
			default:
				log.Info("stopping", "component", "daemon", "signal", s.String())
				notify(log, "STOPPING=1", "STATUS=stopping")
				cancel()
			}
		}
	}()
	return app.Run(ctx)
}

// reload re-reads the config on SIGHUP; an invalid one is rejected and
// the running config kept.
func reload(app *App, path string, log *slog.Logger) {
	log = log.With("component", "daemon")
	cfg, err := loadConfig(path)
	if err != nil {
		log.Error("reload rejected; keeping the running config", "err", err)
		return
	}
	if err := app.Reload(cfg); err != nil {
		log.Error("reload failed", "err", err)
	}
}

// SystemConfig is where the packages install the config.
const SystemConfig = "/etc/ingestd/ingestd.yaml"

// defaultClientConfig is $INGESTD_CONFIG, else the packaged config when it
// is readable, else none (defaults).
func defaultClientConfig() string {
	if p := os.Getenv("INGESTD_CONFIG"); p != "" {
		return p
	}
	if f, err := os.Open(SystemConfig); err == nil {
		f.Close()
		return SystemConfig
	}
	return ""
}

// client builds an API client from -api / -token-file / -config.
func clientFlags(fs *flag.FlagSet) func() (*api.Client, error) {
	cfgPath := fs.String("config", defaultClientConfig(), "config file of the daemon (api.listen, api.token_file)")
	apiURL := fs.String("api", "", "API base URL (default from -config, else http://"+config.DefaultListen+")")
	tokenFile := fs.String("token-file", "", "bearer token file (default api.token_file from -config)")
	return func() (*api.Client, error) {
		c := &api.Client{Base: "http://" + config.DefaultListen}
		tf := *tokenFile
		if *cfgPath != "" {
			data, err := os.ReadFile(*cfgPath)
			if err != nil {
				return nil, &config.Error{Msg: err.Error()}
			}
			cfg, err := config.Parse(data) // no Validate: the client need not see the volumes
			if err != nil {
				return nil, err
			}
			cfg.SetDefaults()
			c.Base = "http://" + dialAddr(cfg.API.Listen)
			if tf == "" {
				tf = cfg.API.TokenFile
			}
		}
		if *apiURL != "" {
			c.Base = strings.TrimSuffix(*apiURL, "/")
		}
		if tf != "" {
			b, err := os.ReadFile(tf)
			if err != nil {
				return nil, fmt.Errorf("read token: %w", err)
			}
			c.Token = strings.TrimSpace(string(b))
		}
		return c, nil
	}
}

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
	case api.Status:
		printStatus(tw, d, time.Now())
		tw.Flush()
		tty, cols := ttyInfo(stdout)
		printProgress(stdout, d, tty, cols) // cli_ops.go
	case api.AssetsDoc:
		printAssets(tw, d)
	default:
		printAsset(tw, v)
	}
	return nil
}
