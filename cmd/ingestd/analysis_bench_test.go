package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// TestAnalysisBenchRatio (bench/analysis.sh; skipped unless
// INGESTD_BENCH_ANALYSIS=1) times, in the real daemon, the proxy job of a
// 20 s 1080p25 H.264 + stereo clip and then its analysis (video from the
// proxy, audio from the master), and
// prints analysis time / proxy job time (goal <= 0.5 on CPU).
func TestAnalysisBenchRatio(t *testing.T) {
	if os.Getenv("INGESTD_BENCH_ANALYSIS") != "1" {
		t.Skip("bench: set INGESTD_BENCH_ANALYSIS=1 (bench/analysis.sh)")
	}
	ffmpeg := testenv.Need(t, "ffmpeg")
	e := newEnv(t, "", "proxy:\n  gpu: off\n")
	stage := filepath.Join(e.dir, "bench.mov")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=25:d=20", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=20",
		"-filter_complex", "[1:a]pan=stereo|c0=c0|c1=c0[a]", "-map", "0:v", "-map", "[a]",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "pcm_s16le", "-timecode", "10:00:00:00", stage).CombinedOutput()
	if err != nil {
		t.Fatalf("bench clip: %v: %s", err, out)
	}
	e.start()
	if err := os.Rename(stage, filepath.Join(e.watch, "bench.mov")); err != nil {
		t.Fatal(err)
	}
	evs := e.waitFeed(10*time.Minute, "analysis.ready", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Type == storage.EvAnalysisReady || ev.Type == storage.EvAnalysisFailed {
				return true
			}
		}
		return false
	})
	// The analysis timed is the one the daemon ships: video from the
	// proxy, audio (silence, loudness, clipping) from the master.
	id := anE2EAsset(evs, "bench.mov")
	var res analysis.Result
	anE2EGetJSON(t, e, "/v1/assets/"+id+"/analysis.json", &res)
	if res.AudioSource != "master" {
		t.Fatalf("bench analysis measured audio_source %q (%s), want the master", res.AudioSource, res.AudioNote)
	}
	e.stop()
	logs := e.stderr.String()
	proxy := anBenchElapsed(t, logs, `msg="proxy ready".* elapsed=(\S+)`)
	an := anBenchElapsed(t, logs, `msg="analysis ready".* elapsed=(\S+)`)
	t.Logf("BENCH analysis of a 20 s 1080p25 clip (video: its proxy, audio: the master): proxy job %.2f s, analysis %.2f s, ratio %.2f (goal <= 0.5)", proxy, an, an/proxy)
}

func anBenchElapsed(t *testing.T, logs, re string) float64 {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no %s in the log:\n%s", re, logs)
	}
	if d, err := time.ParseDuration(m[1]); err == nil {
		return d.Seconds()
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("elapsed %q: %v", m[1], err)
	}
	return f
}
