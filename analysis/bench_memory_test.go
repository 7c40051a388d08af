package analysis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	gen "github.com/ingestd/ingestd/testdata/analysis"
	"github.com/ingestd/ingestd/transcode"
)

// TestAnalysisBenchMemory (bench/analysis.sh, INGESTD_BENCH_ANALYSIS=1)
// measures the peak memory (max RSS) of an analysis's FFmpeg processes on
// long programmes (1 fps, 8 kHz audio, ANALYSIS_BENCH_HOURS, default
// "1 10"), each next to FFmpeg merely decoding the same file (-f null), run
// side by side: the ratio stays flat as the programme grows (one graph
// with both outputs grew with the length of the longest shot: 643 MB for
// 10 hours).
func TestAnalysisBenchMemory(t *testing.T) {
	if os.Getenv("INGESTD_BENCH_ANALYSIS") != "1" {
		t.Skip("bench: set INGESTD_BENCH_ANALYSIS=1 (bench/analysis.sh)")
	}
	ff := testenv.Need(t, "ffmpeg")
	timeBin := testenv.Need(t, "time") // GNU time: max RSS of one process
	hours := strings.Fields(os.Getenv("ANALYSIS_BENCH_HOURS"))
	if len(hours) == 0 {
		hours = []string{"1", "10"}
	}
	dir := t.TempDir()
	// The analysis's FFmpeg through GNU time: each process's max RSS (KiB)
	// appended to rss.txt.
	rss := filepath.Join(dir, "rss.txt")
	wrap := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(wrap, []byte(fmt.Sprintf("#!/bin/sh\nexec %s -a -o %s -f %%M %s \"$@\"\n", timeBin, rss, ff)), 0o755); err != nil {
		t.Fatal(err)
	}
	maxKiB := func() int {
		b, err := os.ReadFile(rss)
		if err != nil {
			t.Fatal(err)
		}
		m := 0
		for _, l := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(l); err == nil && n > m {
				m = n
			}
		}
		return m
	}
	for _, h := range hours {
		n, err := strconv.Atoi(h)
		if err != nil || n < 1 {
			t.Fatalf("ANALYSIS_BENCH_HOURS: %q", h)
		}
		src := filepath.Join(dir, h+"h.mov")
		if err := gen.LongClip(context.Background(), ff, src, n*60, true); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(rss)
		in := input{path: src, format: "mov", video: true, audio: true, duration: float64(n * 3600), frameRate: "1"}
		work := t.TempDir()
		t0 := time.Now()
		res, err := analyse(context.Background(), transcode.Runner{FFmpeg: wrap, Stall: 5 * time.Minute}, in, testCfg(), work)
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(t0)
		an := maxKiB()
		_ = os.Remove(rss)
		t1 := time.Now()
		if b, err := exec.Command(wrap, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", src, "-f", "null", "-").CombinedOutput(); err != nil {
			t.Fatalf("reference decode: %v: %s", err, b)
		}
		ref := maxKiB()
		t.Logf("BENCH analysis memory %2dh: analysis %d MiB peak (%s), decode-only FFmpeg %d MiB (%s): ratio %.2f; %d freeze, loudness %v",
			n, an>>10, el.Round(time.Second), ref>>10, time.Since(t1).Round(time.Second), float64(an)/float64(ref), len(res.Freeze), res.Loudness != nil)
	}
}
