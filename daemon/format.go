package daemon

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/storage"
)

// HumanBytes formats a size with binary units: 0 B, 1023 B, 1.5 KiB, 2.0 GiB.
func HumanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f /= 1024
		if f < 1024 || u == "PiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}

func humanTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// quote shows a path safely on a terminal: a name with control bytes (C0,
// DEL, C1 such as CSI), other unprintable runes (bidi overrides, zero-width
// characters) or bytes that are not UTF-8 is printed Go-quoted, each such
// byte escaped ("a\xff.mov"), so two names that differ only there print
// differently and nothing reaches the terminal raw; ordinary names are
// printed as they are.
func quote(s string) string {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return strconv.Quote(s)
			}
		}
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func printStatus(w io.Writer, s api.Status, now time.Time) {
	state := "starting"
	if s.Ready {
		state = "ready"
	}
	fmt.Fprintf(w, "ingestd %s\tappliance %s\tup %s\t%s\n", s.Version, s.ApplianceID,
		now.Sub(s.Started).Round(time.Second), state)
	fmt.Fprintf(w, "catalog %s\tlast seq %d\t%s\n", s.CatalogID, s.Catalog.LastSeq, HumanBytes(s.Catalog.LSMBytes+s.Catalog.VlogBytes))
	fmt.Fprintf(w, "queues\tsettling %d\thashing %d\n", s.Queues.Settling, s.Queues.Hashing)
	fmt.Fprintf(w, "ingest\t%d files seen\t%s hashed\n", s.Ingest.FilesSeen, HumanBytes(int64(s.Ingest.BytesHashed)))
	printStageStatus(w, s.Proxy, s.Sync, now)
	printCards(w, s.Cards)
	printDisk(w, s.Disk)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "VOLUME\tSTATE\tMODE\tFILES\tSIZE\tLAST SCAN\tPATH")
	for _, v := range s.Volumes {
		st := "online"
		if !v.Online {
			st = "offline"
			if v.Reason != "" {
				st += " (" + v.Reason + ")"
			}
		}
		if v.Scanning {
			st += ", scanning"
		}
		if v.StalledSeconds > 0 {
			st += fmt.Sprintf(", NO ANSWER from the filesystem for %s (hung mount?)", time.Duration(v.StalledSeconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", v.Name, st, v.WatchMode, v.Files, HumanBytes(v.Bytes), humanTime(v.LastScan), quote(v.Path))
	}
}

func printAssets(w io.Writer, d api.AssetsDoc) {
	fmt.Fprintln(w, "ID\tSIZE\tFIRST SEEN\tLOCATIONS")
	for _, a := range d.Assets {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.ID, HumanBytes(a.Size), humanTime(a.FirstSeen), locSummary(a.Locations))
	}
	if d.Next != "" {
		fmt.Fprintf(w, "\nmore: ingestd assets --after %s\n", d.Next)
	}
}

func locSummary(ls []storage.Location) string {
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
func locState(l storage.Location) string {
	if l.State != storage.LocRemoved || l.Removed.IsZero() {
		return l.State
	}
	if l.ReplacedBy != "" {
		return fmt.Sprintf("replaced %s by %.12s", humanTime(l.Removed), l.ReplacedBy)
	}
	return "removed " + humanTime(l.Removed)
}

func printAsset(w io.Writer, v any) {
	a, ok := v.(storage.AssetDoc)
	if !ok {
		return
	}
	fmt.Fprintf(w, "id\t%s\n", a.ID)
	fmt.Fprintf(w, "size\t%s (%d bytes)\n", HumanBytes(a.Size), a.Size)
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
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", l.Volume, locState(l), HumanBytes(l.Size), humanTime(l.MTime), quote(l.Path))
	}
}
