package main

// `ingestd cards verify DIR...`: re-verify offloaded folders against their
// own ASC MHL history, without the daemon (what a DIT runs on a shuttle
// drive at the facility, or on the RAID before a card is formatted).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
)

// CardsVerifyView is `ingestd cards verify --json`.
type CardsVerifyView struct {
	Folders []FolderVerify `json:"folders"`
}

// FolderVerify is one folder checked against its ASC MHL history.
type FolderVerify struct {
	Path        string          `json:"path"`
	OK          bool            `json:"ok"`
	Generations int             `json:"generations"`          // in ascmhl/
	Generation  string          `json:"generation,omitempty"` // the newest
	Verified    int             `json:"verified"`             // files whose original hash matched
	Failed      []VerifyFailure `json:"failed,omitempty"`     // hash differs
	Missing     []string        `json:"missing,omitempty"`    // in the history, not in the folder
	New         []string        `json:"new,omitempty"`        // in the folder, not in the history
	Error       string          `json:"error,omitempty"`      // the folder could not be checked
}

// VerifyFailure is a file whose hash differs from its original in the history.
type VerifyFailure struct {
	Path    string `json:"path"`
	Format  string `json:"format"`
	History string `json:"history"`
	Now     string `json:"now"`
}

// errCardsVerify: some folder does not match its history (ExitFailure).
var errCardsVerify = errors.New("cards verify: a folder does not match its ASC MHL history")

// cmdCardsVerify re-reads every file of each folder and compares it with
// the original hash its ascmhl/ history recorded (ascmhl.Verify): a file
// that differs, a file of the history that is gone and a file the history
// does not know all make the folder NOT OK.
func cmdCardsVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cards verify", stderr)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	dirs, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return usagef("cards verify: no folder given (ingestd cards verify [--json] DIR...)")
	}
	var view CardsVerifyView
	bad := 0
	for _, dir := range dirs {
		fv := verifyFolder(ctx, dir)
		if !fv.OK {
			bad++
		}
		view.Folders = append(view.Folders, fv)
		if !*asJSON {
			printFolderVerify(stdout, fv)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(view); err != nil {
			return err
		}
	}
	if bad > 0 {
		return fmt.Errorf("%w (%d of %d)", errCardsVerify, bad, len(view.Folders))
	}
	return nil
}

func verifyFolder(ctx context.Context, dir string) FolderVerify {
	fv := FolderVerify{Path: dir}
	if abs, err := filepath.Abs(dir); err == nil {
		fv.Path = abs
	}
	h, err := ascmhl.Open(fv.Path)
	if err == nil && len(h.Generations) > 0 {
		fv.Generations = len(h.Generations)
		fv.Generation = h.Generations[len(h.Generations)-1].FileName
	}
	rep, err := ascmhl.Verify(ctx, fv.Path)
	if err != nil {
		fv.Error = err.Error()
		return fv
	}
	fv.OK, fv.Verified, fv.Missing, fv.New = rep.OK(), len(rep.Verified), rep.Missing, rep.New
	for _, f := range rep.Failed {
		fv.Failed = append(fv.Failed, VerifyFailure{Path: f.Path, Format: string(f.Format), History: f.Was, Now: f.Now})
	}
	return fv
}

func printFolderVerify(w io.Writer, fv FolderVerify) {
	switch {
	case fv.Error != "":
		fmt.Fprintf(w, "%s: NOT VERIFIED: %s\n", fv.Path, fv.Error)
		return
	case fv.OK:
		fmt.Fprintf(w, "%s: OK: %d files match the ASC MHL history (%d generations, newest %s)\n", fv.Path, fv.Verified, fv.Generations, fv.Generation)
		return
	}
	fmt.Fprintf(w, "%s: NOT OK: %d match, %d differ, %d missing, %d not in the history\n", fv.Path, fv.Verified, len(fv.Failed), len(fv.Missing), len(fv.New))
	for _, f := range fv.Failed {
		fmt.Fprintf(w, "  differs  %q: %s %s, history %s\n", f.Path, f.Format, f.Now, f.History)
	}
	for _, p := range fv.Missing {
		fmt.Fprintf(w, "  missing  %q\n", p)
	}
	for _, p := range fv.New {
		fmt.Fprintf(w, "  new      %q\n", p)
	}
}
