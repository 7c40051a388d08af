package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// CardsView is `ingestd cards --json`: every card the catalog knows, with
// the live progress of those being offloaded or filled.
type CardsView struct {
	Cards []CardView `json:"cards"`
}

// CardView is one card: its record, and its live status when present.
type CardView struct {
	wire.Card
	Mount   string `json:"mount,omitempty"`
	Live    string `json:"live_state,omitempty"`
	Message string `json:"message,omitempty"`
}

// MarshalJSON writes the card record followed by the live fields. Without
// it, wire.Card's own MarshalJSON would be promoted and drop mount,
// live_state and message.
func (v CardView) MarshalJSON() ([]byte, error) {
	rec, err := json.Marshal(v.Card)
	if err != nil {
		return nil, err
	}
	live, err := json.Marshal(struct {
		Mount   string `json:"mount,omitempty"`
		Live    string `json:"live_state,omitempty"`
		Message string `json:"message,omitempty"`
	}{v.Mount, v.Live, v.Message})
	if err != nil {
		return nil, err
	}
	if len(live) <= 2 { // {}: nothing live
		return rec, nil
	}
	if len(rec) < 2 || rec[len(rec)-1] != '}' {
		return nil, fmt.Errorf("card %s: record is not a JSON object", v.Key)
	}
	out := append(rec[:len(rec)-1:len(rec)-1], ',')
	if len(rec) == 2 { // {}: no record fields
		out = out[:1]
	}
	return append(out, live[1:]...), nil
}

// cmdCards lists cards with their state, a progress bar per destination
// and a plain SAFE TO FORMAT / NOT SAFE TO FORMAT.
func cmdCards(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "verify" {
		return cmdCardsVerify(ctx, args[1:], stdout, stderr) // cmd_cards_verify.go
	}
	fs := newFlags("cards", stderr)
	mk := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("cards: unexpected argument %q", fs.Arg(0))
	}
	c, err := mk()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var doc wire.CardsPage
	err = c.Get(ctx, "/v1/cards", nil, &doc)
	var live wire.CardsStatus
	if err == nil {
		var st struct {
			Cards *wire.CardsStatus `json:"cards"`
		}
		if err = c.Get(ctx, "/v1/status", nil, &st); err == nil && st.Cards != nil {
			live = *st.Cards
		}
	}
	if err != nil {
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) {
			return fmt.Errorf("cannot reach the daemon at %s (is it running? -api/-config): %w", c.Base, err)
		}
		return err
	}
	view := cardsView(doc, live)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(view)
	}
	tty, cols := ttyInfo(stdout)
	printCardsView(stdout, view, tty, cols)
	return nil
}

// cardsView merges the records with the live status (by card key): live
// destination progress replaces the recorded one while a card is worked on.
func cardsView(doc wire.CardsPage, live wire.CardsStatus) CardsView {
	v := CardsView{Cards: []CardView{}}
	byKey := map[string]wire.CardStatus{}
	for _, c := range live.Cards {
		if c.Key != "" {
			byKey[c.Key] = c
		}
	}
	for _, r := range doc.Cards {
		cv := CardView{Card: r}
		if l, ok := byKey[r.Key]; ok {
			cv.Mount, cv.Live, cv.Message = l.Mount, l.State, l.Message
			if len(l.Destinations) == len(r.Destinations) && !r.SafeToFormat {
				cv.Destinations = l.Destinations
			}
			if cv.Files == 0 && l.FilesTotal > 0 {
				// Counted by the pass before the record knows them.
				cv.Files, cv.Bytes = l.FilesTotal, l.BytesTotal
			}
		}
		v.Cards = append(v.Cards, cv)
	}
	return v
}

func printCardsView(w io.Writer, v CardsView, tty bool, cols int) {
	if len(v.Cards) == 0 {
		fmt.Fprintln(w, "no cards")
		return
	}
	for _, c := range v.Cards {
		safe := "NOT SAFE TO FORMAT"
		if c.SafeToFormat {
			safe = "SAFE TO FORMAT"
		}
		state := c.Status
		superseded := c.Live == "" && strings.HasPrefix(c.Reason, wire.CardSuperseded)
		switch {
		case c.Live != "":
			state = c.Live
		case superseded:
			state = "superseded" // its destinations' errors are history
		}
		line := fmt.Sprintf("card %s\t%s\t%s\t%s\t%d files, %s", quote(c.Label), cardRef(c.Card), state, safe, c.Files, humanBytes(c.Bytes))
		if c.Mount != "" {
			line += "\tmounted at " + quote(c.Mount)
		}
		if !tty {
			fmt.Fprintln(w, line)
		} else {
			fmt.Fprintln(w, strings.ReplaceAll(line, "\t", "  "))
		}
		for _, d := range c.Destinations {
			if superseded {
				break
			}
			// Copying: bytes written. A destination that failed or waits
			// counts what was verified there (written is not copied: a
			// failed one at "100%" read as done).
			frac, detail := -1.0, "-"
			switch {
			case d.State == "verified":
				frac, detail = 1, humanBytes(d.BytesTotal)
			case d.BytesTotal <= 0:
			case d.State == "failed" || d.State == "pending":
				frac = min(float64(d.BytesVerified)/float64(d.BytesTotal), 1)
				detail = fmt.Sprintf("%s/%s verified", humanBytes(d.BytesVerified), humanBytes(d.BytesTotal))
			default:
				frac = min(float64(d.BytesDone)/float64(d.BytesTotal), 1)
				detail = fmt.Sprintf("%s/%s", humanBytes(d.BytesDone), humanBytes(d.BytesTotal))
			}
			pct := "-"
			if frac >= 0 {
				pct = fmt.Sprintf("%.0f%%", frac*100)
			}
			if d.RateBps > 0 {
				detail += "  " + humanBytes(int64(d.RateBps)) + "/s"
			}
			if d.ETASeconds > 0 {
				detail += "  ETA " + (time.Duration(d.ETASeconds) * time.Second).String()
			}
			if d.Error != "" {
				detail += "  error: " + d.Error
			}
			name := d.Volume + "/" + d.Path
			if !tty {
				fmt.Fprintf(w, "  dest\t%s\t%s\t%s\t%s\n", quote(name), d.State, pct, detail)
				continue
			}
			width := max(10, min(30, cols-60))
			fmt.Fprintf(w, "  %-28s %-9s %s %4s  %s\n", progTrim(quote(name), 28), d.State, progBar(frac, width), pct, detail)
		}
		switch {
		case c.Message != "":
			fmt.Fprintf(w, "  %s\n", c.Message)
		case c.Reason != "" && !c.SafeToFormat:
			fmt.Fprintf(w, "  %s\n", quote(c.Reason))
		}
	}
}

// cardRef tells two records of one label apart, never cut: the card's id
// (what GET /v1/cards/{id}/report takes) and its filesystem UUID whole.
// The key was shown cut to 12 characters, which read as a whole UUID.
func cardRef(c wire.Card) string {
	ref := "key " + quote(c.Key)
	if c.ID != "" {
		ref = "id " + c.ID
	}
	if c.Identity.UUID != "" {
		ref += " uuid " + quote(c.Identity.UUID)
	}
	return ref
}
