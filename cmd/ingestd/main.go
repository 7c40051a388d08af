// Command ingestd is the edge ingest daemon and its CLI: `ingestd run`
// runs the daemon (package daemon); every other command is a client of
// its HTTP API (package daemon/api, documents in daemon/api/wire) or
// works on a stopped daemon's state dir. One file per command
// (cmd_<name>.go); the human-readable output is in format*.go.
//
// main maps the result to an exit status (exit.go): 0 ok, 1 runtime
// error, 64 usage error, 65 catalog identity mismatch (the daemon refuses
// a catalog that is not the one state_dir recorded), 78 config error. 2 is
// left to Go itself (a panic or fatal runtime error), so that systemd
// restarts a crash but not a config error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/ingestd/ingestd/daemon"
)

// memLimit is the Go heap's soft limit unless GOMEMLIMIT says otherwise
// (issue 15: RSS <= 256 MB with 1M cataloged files). The GC works harder
// near it instead of letting the heap double past the live data; Badger's
// mapped tables (~40-50 MB at 1M files) and the binary's text (~20 MB) come
// on top. The live heap at the peak of a 1M first ingest is ~70-90 MB since
// Badger's builders were patched (third_party/badger/PATCHES.md), so 150 MiB
// costs no more CPU than 200 did before (docs/scale.md, session 8).
const memLimit = 150 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memLimit)
	}
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestd:", err)
	}
	os.Exit(exitStatus(err))
}

const usage = `usage: ingestd COMMAND [flags]

commands:
  run [-config FILE]                      run the daemon (embedded defaults without -config)
  validate -config FILE                   check a config file; prints "config OK"
  status [--json] [-watch 2s]             the running daemon's status (-watch: redraw every interval)
  assets [--json] [--after ID] [--limit N] list cataloged assets
  asset ID [--json]                       one asset with its locations
  cards [--json]                          camera cards: state, progress per destination, SAFE TO FORMAT or not
  cards verify [--json] DIR...            re-read offloaded folders against their ASC MHL history (no daemon)
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

// run runs one ingestd command; exitStatus maps its error to the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "assets", "asset":
		return cmdClient(ctx, cmd, rest, stdout, stderr)
	case "cards":
		return cmdCards(ctx, rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(ctx, rest, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, stdout, stderr)
	case "restore":
		return cmdRestore(rest, stdout, stderr)
	case "reset-catalog":
		return cmdResetCatalog(rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "ingestd", daemon.Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", cmd)
}
