package main

// Flag parsing shared by the commands, and the API client of the client
// commands (-config, -api, -token-file).

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ingestd/ingestd/daemon"
	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/config"
)

// UsageError is a command-line mistake (exit status ExitUsage, 64).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

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

// clientFlags adds -config, -api and -token-file to fs; the function it
// returns builds the API client from them once fs is parsed.
func clientFlags(fs *flag.FlagSet) func() (*api.Client, error) {
	cfgPath := fs.String("config", defaultClientConfig(), "config file of the daemon (api.listen, api.token_file)")
	apiURL := fs.String("api", "", "API base URL (default from -config, else http://"+config.DefaultListen+")")
	tokenFile := fs.String("token-file", "", "bearer token file (default api.token_file from -config)")
	return func() (*api.Client, error) {
		c := &api.Client{Base: "http://" + config.DefaultListen}
		tf := *tokenFile
		if *cfgPath != "" {
			data, err := config.ReadFile(*cfgPath)
			if err != nil {
				return nil, &config.Error{Msg: err.Error()}
			}
			cfg, err := config.Parse(data) // no Validate: the client need not see the volumes
			if err != nil {
				return nil, err
			}
			cfg.SetDefaults()
			c.Base = "http://" + daemon.DialAddr(cfg.API.Listen)
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
