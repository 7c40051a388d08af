package analysis

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
	gen "github.com/ingestd/ingestd/testdata/analysis"
	"github.com/ingestd/ingestd/transcode"
)

// TestLoudnessNotMeasurable (red team, issue 14): ebur128 reports -70 LUFS
// when no 400 ms block is complete (a sting, one frame) or none is above
// the absolute gate (digital silence, a camera's mute track). The
// loudness check warns that it cannot be measured, instead of failing the
// asset 47 LU off the target; a measurable programme keeps its verdicts.
func TestLoudnessNotMeasurable(t *testing.T) {
	rules := testCfg().Rules
	for _, c := range []struct {
		name      string
		duration  float64
		integ     float64
		verdict   string
		reasonHas string
	}{
		{"0.3 s sting", 0.3, -70, Warn, "shorter than one 400 ms block"},
		{"silence", 3, -70, Warn, "silent"},
		{"quiet", 3, -40, Fail, "is 17.0 LU from the target"},
		{"a bit loud", 3, -21.5, Warn, "is 1.5 LU from the target"},
		{"on target", 3, -23.4, Pass, "target -23.0±1.0"},
	} {
		res := &Result{Duration: c.duration, Loudness: &storage.Loudness{Integrated: c.integ, TruePeak: -30}}
		check(res, input{audio: true}, rules)
		var got *storage.Check
		for i := range res.Checks {
			if res.Checks[i].Rule == "loudness" {
				got = &res.Checks[i]
			}
		}
		if got == nil || got.Verdict != c.verdict || !strings.Contains(got.Reason, c.reasonHas) {
			t.Errorf("%s: loudness check %+v, want %s with %q", c.name, got, c.verdict, c.reasonHas)
		}
	}
}

// TestMasterMonoTracksPaired (red team, issue 14): a master whose audio is
// several mono tracks (A1 left, A2 right, EBU R 123; MXF and camera
// masters) is measured as the stereo pair A1+A2, not as A1 alone (which
// reads 3 LU low for a centred programme and failed it); one stereo or
// 5.1 stream, or a lone mono track, is measured as it is.
func TestMasterMonoTracksPaired(t *testing.T) {
	svc := &Service{master: func(storage.AssetDoc) (string, error) { return "/vol/A001.mxf", nil }}
	mono := func(i int) storage.Stream { return storage.Stream{Index: i, Type: "audio", Channels: 1} }
	for _, c := range []struct {
		name    string
		streams []storage.Stream
		left    int
		right   int
	}{
		{"4 mono tracks", []storage.Stream{{Index: 0, Type: "video"}, mono(1), mono(2), mono(3), mono(4)}, 1, 2},
		{"one mono track", []storage.Stream{{Index: 0, Type: "video"}, mono(1)}, 1, 0},
		{"stereo then mono", []storage.Stream{{Index: 0, Type: "video"}, {Index: 1, Type: "audio", Channels: 2}, mono(2)}, 1, 0},
		{"5.1", []storage.Stream{{Index: 0, Type: "audio", Channels: 6, Layout: "5.1"}}, 0, 0},
	} {
		m := &storage.Media{Container: "mxf", Streams: c.streams}
		ma, note := svc.masterAudioOf(storage.AssetDoc{}, m)
		if ma == nil || ma.stream != c.left || ma.right != c.right {
			t.Errorf("%s: %+v (%s), want stream %d right %d", c.name, ma, note, c.left, c.right)
			continue
		}
		cmds, err := args(input{path: "/s/proxy.mp4", format: "mov", audio: true, master: ma}, 0.3, "/w")
		if err != nil {
			t.Fatal(err)
		}
		g := strings.Join(cmds[0], " ")
		join := strings.Contains(g, "join=inputs=2:channel_layout=stereo")
		if join != (c.right > 0) || (join && !strings.Contains(g, "[0:1][0:2]join")) {
			t.Errorf("%s: audio graph %q", c.name, g)
		}
		res := &Result{Duration: 5, Loudness: &storage.Loudness{Integrated: -23, TruePeak: -20}}
		check(res, input{audio: true, master: ma}, testCfg().Rules)
		if said := strings.Contains(res.Checks[1].Reason, "first two mono tracks as a stereo pair"); said != (c.right > 0) {
			t.Errorf("%s: loudness reason %q", c.name, res.Checks[1].Reason)
		}
	}
}

// TestServiceBadInputQueueGoesOn (red team, issue 14 item 4): an asset
// whose proxy went missing after proxy.ready gets its own
// analysis.failed that names it, an asset whose master has no audio is
// analysed (an audio warning; the enricher is told there is no audio and
// answers so, which is not a failure), and the queue goes on.
func TestServiceBadInputQueueGoesOn(t *testing.T) {
	ff, cat, state, lost := proxiedAsset(t)
	src := filepath.Join(t.TempDir(), "mute.mov")
	if err := gen.QCClip(context.Background(), ff, src, false); err != nil {
		t.Fatal(err)
	}
	mute := addProxied(t, cat, state, src, &storage.Media{Duration: 12, Streams: []storage.Stream{{Type: "video", FrameRate: "25", Width: 320, Height: 240}}})
	if err := os.Remove(storage.OutputPath(state, lost, "proxy.mp4")); err != nil {
		t.Fatal(err)
	}
	// An enricher in the manner of ingestd-enrich-stt: no audio, no words.
	stt := script(t, `req=$(cat); case "$req" in *'"audio":true'*) echo 'wanted no audio' >&2; exit 1;; esac
case "$req" in *'"audio":"'*) echo 'got a WAV' >&2; exit 1;; esac
echo '{"data":{"words":[],"note":"no audio"}}'`)
	svc, err := New(Config{Enrichers: []Enricher{{Name: "stt", Command: []string{stt}}}}, ff, state, cat, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Start(t, "analysis service", svc.Run)()
	failed := waitEvent(t, cat, storage.EvAnalysisFailed, lost, time.Minute)
	if !strings.Contains(failed.Detail, "proxy proxy.mp4 missing") {
		t.Errorf("analysis.failed of the asset without its proxy: %q", failed.Detail)
	}
	waitEvent(t, cat, storage.EvAnalysisReady, mute, time.Minute)
	doc, err := cat.Asset(mute)
	if err != nil {
		t.Fatal(err)
	}
	if a := doc.Analysis; a == nil || a.Loudness != nil || !slices.ContainsFunc(a.Checks, func(c storage.Check) bool { return c.Rule == "audio" && c.Verdict == Warn }) {
		t.Errorf("analysis of the video without audio: %+v", doc.Analysis)
	}
	b, err := os.ReadFile(storage.OutputPath(state, mute, OutJSON))
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil || len(res.Enrichments) != 1 || res.Enrichments[0].Status != StatusReady {
		t.Errorf("enrichments of the video without audio: %+v (%v)", res.Enrichments, err)
	}
	if st := svc.Status(); st.Done[StatusFailed] != 1 || st.Done[StatusReady] != 1 || st.Enrichers[0].Failed != 0 {
		t.Errorf("status %+v, want one failed (the lost proxy), one ready, no enricher failure", st)
	}
}

// TestWAVStartsAtTheProgramme (red team, issue 14 item 2): in a master
// whose audio starts 0.5 s after its picture, the enrichers' 16 kHz WAV
// starts at the programme's time 0 (padded), so a silence 1–2 s into the
// audio is at 1.5–2.5 s in the WAV, as in the analysis: an enricher's
// word times are the programme's. It used to start at the audio's first
// sample, 0.5 s early.
func TestWAVStartsAtTheProgramme(t *testing.T) {
	ff := testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	late := filepath.Join(dir, "late.mov")
	if b, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=5",
		"-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=4,volume=0:enable='between(t,1,2)'",
		"-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", late).CombinedOutput(); err != nil {
		t.Fatalf("late.mov: %v: %s", err, b)
	}
	r := transcode.Runner{FFmpeg: ff, Stall: time.Minute}
	in := input{path: late, format: "mov", video: true, audio: true, duration: 5, frameRate: "25"}
	res, err := analyse(context.Background(), r, in, testCfg(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wav := filepath.Join(dir, "a.wav")
	if err := extractWAV(context.Background(), r, in, wav); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ff, "-hide_banner", "-nostats", "-i", wav, "-af", "silencedetect=n=-60dB:d=0.5", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p := &parser{}
	_, _ = p.Write(out)
	if len(res.Silence) != 1 || len(p.silence) != 1 {
		t.Fatalf("silence: analysis %+v, WAV %+v; want one each", res.Silence, p.silence)
	}
	for _, s := range []Segment{res.Silence[0], p.silence[0]} {
		if math.Abs(s.Start-1.5) > 0.04 || math.Abs(s.End-2.5) > 0.04 {
			t.Errorf("silence %+v (analysis %+v), want 1.5 s to 2.5 s of the programme", s, res.Silence[0])
		}
	}
}

// TestFrameRateRule (red team, issue 14 item 1): the frame_rate rule as a
// user writes it. "29.97" and "59.94" match the NTSC rates (they used to
// warn on every such clip: only "30000/1001" matched), "25" does not
// match 25000/1001, and a variable frame rate warns saying so.
func TestFrameRateRule(t *testing.T) {
	for _, c := range []struct {
		want, got string
		vfr       bool
		verdict   string
		reason    string
	}{
		{"29.97", "30000/1001", false, Pass, "frame rate 30000/1001"},
		{"59.94", "60000/1001", false, Pass, "frame rate 60000/1001"},
		{"25", "25/1", false, Pass, "frame rate 25/1"},
		{"25", "25000/1001", false, Warn, "frame rate 25000/1001, expected 25"},
		{"30", "30000/1001", false, Warn, "expected 30"},
		{"50", "50/1", false, Pass, "frame rate 50/1"},
		{"30", "4260/143", true, Warn, "variable frame rate (average 4260/143), expected 30"},
	} {
		res := &Result{Duration: 5}
		check(res, input{video: true, frameRate: c.got, vfr: c.vfr}, Rules{FrameRate: c.want})
		var got *storage.Check
		for i := range res.Checks {
			if res.Checks[i].Rule == "frame_rate" {
				got = &res.Checks[i]
			}
		}
		if got == nil || got.Verdict != c.verdict || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("rule %q on %s (vfr %v): %+v, want %s %q", c.want, c.got, c.vfr, got, c.verdict, c.reason)
		}
	}
}
