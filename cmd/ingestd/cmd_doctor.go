package main

import (
	"context"
	"errors"
	"io"

	"github.com/ingestd/ingestd/daemon"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/doctor"
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
		b, err := config.ReadFile(*path)
		if err != nil {
			return &config.Error{Msg: err.Error()}
		}
		data = b
	}
	cfg, err := config.Parse(data)
	if err != nil {
		return err // not even decodable: nothing to check against
	}
	cfg.SetDefaults()
	rep := daemon.Doctor(ctx, cfg, doctor.Options{ // the machine's checks and every registered stage's
		ConfigErr: cfg.Validate(), ConfigPath: *path, CatalogDir: daemon.CatalogDir(cfg.StateDir), IdentityFile: daemon.IdentityFile(cfg.StateDir)})
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
