package analysis

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	gen "github.com/ingestd/ingestd/testdata/analysis"
	"github.com/ingestd/ingestd/transcode"
)

func qcInput(t *testing.T, audio bool) (input, string) {
	ff := testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	p := filepath.Join(dir, "qc.mov")
	if err := gen.QCClip(context.Background(), ff, p, audio); err != nil {
		t.Fatal(err)
	}
	return input{path: p, format: "mov", video: true, audio: audio, duration: 12, frameRate: "25",
		timecode: gen.Known.Timecode, width: 320, height: 240}, ff
}

func testCfg() Config {
	var c Config
	c.SetDefaults()
	return c
}

// within1 asserts t is within one frame (1/25 s) of frame f.
func within1(t *testing.T, what string, got float64, f int) {
	t.Helper()
	if want := float64(f) / gen.Known.FPS; math.Abs(got-want) > 1/gen.Known.FPS+1e-9 {
		t.Errorf("%s = %.3fs, want frame %d (%.3fs) within one frame", what, got, f, want)
	}
}

func TestAnalyseQCClip(t *testing.T) {
	in, ff := qcInput(t, true)
	work := t.TempDir()
	res, err := analyse(context.Background(), transcode.Runner{FFmpeg: ff, Stall: time.Minute}, in, testCfg(), work)
	if err != nil {
		t.Fatal(err)
	}
	k := gen.Known
	if len(res.Black) != 1 {
		t.Fatalf("black = %+v, want one segment", res.Black)
	}
	within1(t, "black start", res.Black[0].Start, k.BlackStart)
	within1(t, "black end", res.Black[0].End, k.BlackEnd)
	if res.Black[0].StartTC != "01:00:02:00" || *res.Black[0].StartF != 50 {
		t.Errorf("black start tc %q frame %d, want 01:00:02:00 / 50", res.Black[0].StartTC, *res.Black[0].StartF)
	}
	// The black stretch is frozen too; the held frame 149 is the other freeze.
	var fz *Segment
	for i := range res.Freeze {
		if res.Freeze[i].Start > 5 {
			fz = &res.Freeze[i]
		}
	}
	if fz == nil {
		t.Fatalf("freeze = %+v, want one from frame %d", res.Freeze, k.FreezeStart)
	}
	within1(t, "freeze start", fz.Start, k.FreezeStart)
	within1(t, "freeze end", fz.End, k.FreezeEnd)
	if len(res.Silence) != 1 {
		t.Fatalf("silence = %+v, want one", res.Silence)
	}
	within1(t, "silence start", res.Silence[0].Start, int(k.SilenceStart*k.FPS))
	within1(t, "silence end", res.Silence[0].End, int(k.SilenceEnd*k.FPS))
	if len(res.Shots) != len(k.Cuts) {
		t.Fatalf("shots = %+v, want starts at frames %v", res.Shots, k.Cuts)
	}
	for i, s := range res.Shots {
		within1(t, "shot "+strconv.Itoa(i)+" start", s.Start, k.Cuts[i])
		if s.Thumbnail == "" {
			t.Errorf("shot %d has no thumbnail", i)
		} else if _, err := os.Stat(filepath.Join(work, s.Thumbnail)); err != nil {
			t.Errorf("shot %d thumbnail: %v", i, err)
		}
	}
	if res.Shots[3].StartTC != "01:00:08:00" {
		t.Errorf("shot 3 tc %q, want 01:00:08:00", res.Shots[3].StartTC)
	}
	if fi, err := os.Stat(filepath.Join(work, OutShots)); err != nil || fi.Size() == 0 {
		t.Errorf("contact sheet: %v", err)
	}
	// R128 against FFmpeg's own ebur128 run separately on the same file.
	want := ebur128(t, ff, in.path)
	l := res.Loudness
	if l == nil {
		t.Fatal("no loudness")
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"I", l.Integrated, want["I"]}, {"LRA", l.Range, want["LRA"]}, {"TP", l.TruePeak, want["Peak"]}} {
		if math.Abs(c.got-c.want) > 0.1 {
			t.Errorf("%s = %.2f, ffmpeg ebur128 says %.2f", c.name, c.got, c.want)
		}
	}
	if l.ClippedSamples != 0 {
		t.Errorf("clipped samples %d in a -20 dBFS tone", l.ClippedSamples)
	}
	check(res, in, testCfg().Rules)
	verdicts := map[string]string{}
	for _, c := range res.Checks {
		verdicts[c.Rule] = c.Verdict
		if c.Reason == "" {
			t.Errorf("check %s has no reason", c.Rule)
		}
	}
	// Black is 2.00 s against a 2 s limit: pass; the freeze holds 51 frames
	// (2.04 s): fail; silence 2 s < 5 s: pass; the -19 LUFS tone is 4 LU off
	// a -23±1 target: fail.
	for r, v := range map[string]string{"max_black": Pass, "max_freeze": Fail, "loudness": Fail, "max_silence": Pass, "clipping": Pass, "max_true_peak": Pass} {
		if verdicts[r] != v {
			t.Errorf("%s = %q, want %q (%+v)", r, verdicts[r], v, res.Checks)
		}
	}
	// Integrated ≈ -21 LUFS: 2 LU from -23 with tolerance 1 → warn at most…
	if verdicts["loudness"] == Pass {
		t.Errorf("loudness %.1f passes a -23±1 target", l.Integrated)
	}
}

func TestChecksFollowRules(t *testing.T) {
	tgt, tp := -21.0, -30.0
	res := &Result{Duration: 12, Black: []Segment{{Start: 2, End: 4, Duration: 2}},
		Loudness: &storage.Loudness{Integrated: -21.2, TruePeak: -17}}
	in := input{video: true, audio: true, frameRate: "24000/1001", width: 1280, height: 720}
	cases := []struct {
		name  string
		rules Rules
		rule  string
		want  string
	}{
		{"black over", Rules{MaxBlack: time.Second}, "max_black", Fail},
		{"black under", Rules{MaxBlack: 3 * time.Second}, "max_black", Pass},
		{"loudness in", Rules{LoudnessTarget: &tgt, LoudnessTolerance: 1}, "loudness", Pass},
		{"true peak", Rules{MaxTruePeak: &tp}, "max_true_peak", Fail},
		{"short", Rules{MinDuration: 20 * time.Second}, "min_duration", Fail},
		{"rate", Rules{FrameRate: "25"}, "frame_rate", Warn},
		{"rate ok", Rules{FrameRate: "23.976023976023976"}, "frame_rate", Pass},
		{"rate exact", Rules{FrameRate: "24000/1001"}, "frame_rate", Pass},
		// As a user writes it: a decimal to the digits given.
		{"rate 23.976", Rules{FrameRate: "23.976"}, "frame_rate", Pass},
		{"rate 23.98", Rules{FrameRate: "23.98"}, "frame_rate", Pass},
		{"rate 23.97", Rules{FrameRate: "23.97"}, "frame_rate", Warn},
		{"rate 24", Rules{FrameRate: "24"}, "frame_rate", Warn},
		{"size", Rules{Width: 1920, Height: 1080}, "resolution", Warn},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := *res
			check(&r, in, c.rules)
			for _, ch := range r.Checks {
				if ch.Rule == c.rule {
					if ch.Verdict != c.want {
						t.Errorf("%s = %s (%s), want %s", c.rule, ch.Verdict, ch.Reason, c.want)
					}
					if c.want == Fail && r.Verdict != Fail {
						t.Errorf("overall %s with a failing check", r.Verdict)
					}
					return
				}
			}
			t.Errorf("no %s check in %+v", c.rule, r.Checks)
		})
	}
}

// ebur128 is FFmpeg's own ebur128 summary of path (gen.Ebur128).
func ebur128(t *testing.T, ff, path string) map[string]float64 {
	t.Helper()
	m, err := gen.Ebur128(context.Background(), ff, path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParserCapsAndLines(t *testing.T) {
	p := &parser{}
	var b strings.Builder
	for i := range maxEvents + 5 {
		b.WriteString("[blackdetect @ 0x1] black_start:" + strconv.Itoa(i) + " black_end:" + strconv.Itoa(i) + ".5 black_duration:0.5\n")
	}
	b.WriteString(strings.Repeat("x", 3*maxLine) + "\n")
	b.WriteString("[silencedetect @ 0x2] silence_start: 1.5\n")
	s := b.String()
	for len(s) > 0 { // odd write sizes: lines split across writes
		n := min(len(s), 777)
		p.Write([]byte(s[:n]))
		s = s[n:]
	}
	p.finish(9)
	if len(p.black) != maxEvents || !p.truncated {
		t.Errorf("black %d truncated %v, want %d and true", len(p.black), p.truncated, maxEvents)
	}
	if len(p.silence) != 1 || p.silence[0].Start != 1.5 || p.silence[0].End != 9 {
		t.Errorf("silence open at the end = %+v, want 1.5–9", p.silence)
	}
}

func TestTimecode(t *testing.T) {
	r, _ := parseRate("30000/1001")
	tc := parseTimecode("10:00:00:00", r)
	for f, want := range map[int64]string{0: "10:00:00:00", 29: "10:00:00:29", 30: "10:00:01:00", 108000: "11:00:00:00"} {
		if got := tc.at(f); got != want {
			t.Errorf("frame %d = %s, want %s", f, got, want)
		}
	}
	if _, err := parseRate("abc"); err == nil {
		t.Error("abc accepted as a frame rate")
	}
}

// TestTimecodeDropFrame: a drop-frame start timecode (';') at 29.97 and
// 59.94 gives SMPTE drop-frame labels: labels 00-01 (00-03) skipped at
// each minute but every tenth, so that an hour of frames (107892 at 29.97)
// is one hour of labels; the same start with ':' stays non-drop, and ';'
// at a rate that has no drop-frame (25) is labelled non-drop.
func TestTimecodeDropFrame(t *testing.T) {
	r30, _ := parseRate("30000/1001")
	r60, _ := parseRate("60000/1001")
	r25, _ := parseRate("25")
	cases := []struct {
		start string
		r     rate
		frame int64
		want  string
	}{
		{"01:00:00;00", r30, 0, "01:00:00;00"},
		{"01:00:00;00", r30, 1799, "01:00:59;29"},
		{"01:00:00;00", r30, 1800, "01:01:00;02"}, // 01:01:00;00 and ;01 do not exist
		{"01:00:00;00", r30, 17981, "01:09:59;29"},
		{"01:00:00;00", r30, 17982, "01:10:00;00"}, // every tenth minute keeps its labels
		{"01:00:00;00", r30, 107892, "02:00:00;00"},
		{"00:00:59;29", r30, 1, "00:01:00;02"},
		{"00:01:00;02", r30, 0, "00:01:00;02"},
		{"00:01:00;02", r30, -1, "00:00:59;29"},
		{"23:59:59;29", r30, 1, "00:00:00;00"}, // the day wraps
		{"01:00:00;00", r60, 3599, "01:00:59;59"},
		{"01:00:00;00", r60, 3600, "01:01:00;04"},
		{"01:00:00;00", r60, 215784, "02:00:00;00"},
		{"01:00:00:00", r30, 1800, "01:01:00:00"}, // non-drop
		{"01:00:00;00", r25, 1500, "01:01:00:00"},
	}
	for _, c := range cases {
		if got := parseTimecode(c.start, c.r).at(c.frame); got != c.want {
			t.Errorf("%s at %d/%d fps + %d frames = %s, want %s", c.start, c.r.num, c.r.den, c.frame, got, c.want)
		}
	}
	// Every frame of a day at 29.97 DF gets a distinct, valid label, in
	// order: labels parse back to their frame.
	tc := parseTimecode("00:00:00;00", r30)
	prev := ""
	for f := int64(0); f < 2*17982+5; f++ {
		l := tc.at(f)
		if l <= prev {
			t.Fatalf("frame %d: %s after %s", f, l, prev)
		}
		if back := parseTimecode(l, r30).start; back != f {
			t.Fatalf("frame %d labelled %s parses back to frame %d", f, l, back)
		}
		prev = l
	}
}

// TestArgsRestrictInputs: the FFmpeg commands of an analysis (one for the
// video, one for the audio: never one graph with both, whose lagging
// thumbnail output would buffer the audio) each read only the proxy,
// through transcode's input builder (file protocol only, the demuxer
// forced, a file: path); the video one writes thumbnails to a file: path;
// a refused format is never run.
func TestArgsRestrictInputs(t *testing.T) {
	in := input{path: "/state/media/ab/x/-i evil:proxy.mp4", format: "mov", video: true, audio: true}
	cmds, err := args(in, 0.3, "/state/work/shots")
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 2 {
		t.Fatalf("%d commands, want 2 (video, audio): %q", len(cmds), cmds)
	}
	for i, want := range [][]string{{"[0:v:0]split[bk][v];[bk]tpad=stop=1:color=white,blackdetect", "\x00file:/state/work/shots/%05d.jpg"}, {"[0:a:0]silencedetect", "-f\x00null\x00-"}} {
		s := strings.Join(cmds[i], "\x00")
		for _, w := range append(want, "-protocol_whitelist\x00file\x00", "-f\x00mov\x00", "-i\x00file:/state/media/ab/x/-i evil:proxy.mp4\x00") {
			if !strings.Contains(s, w) {
				t.Errorf("command %d lacks %q: %q", i, w, cmds[i])
			}
		}
		if n := strings.Count(s, "\x00-i\x00"); n != 1 {
			t.Errorf("command %d: %d inputs, want 1: %q", i, n, cmds[i])
		}
		if strings.Contains(s, "[0:a") && strings.Contains(s, "[0:v") {
			t.Errorf("command %d has video and audio in one graph: %q", i, cmds[i])
		}
	}
	if cmds, err := args(input{path: "/x.m4a", format: "mov", audio: true}, 0.3, "/w"); err != nil || len(cmds) != 1 {
		t.Errorf("audio only: %q %v, want one command", cmds, err)
	}
	if _, err := args(input{path: "/x.m3u8", format: "hls", audio: true}, 0.3, "/w"); err == nil {
		t.Error("an hls input was accepted")
	}
	if _, err := args(input{path: "/x.mp4", format: "mov"}, 0.3, "/w"); err == nil {
		t.Error("nothing to analyse was accepted")
	}
	// The audio pass on the master: audio only, its stream by index, the
	// master's probed demuxer forced, the file protocol only; a master in
	// a refused format (a playlist) is never opened.
	in.master = &masterAudio{path: "/vol/-i evil:A001.mxf", format: "mxf", stream: 2}
	cmds, err = args(in, 0.3, "/state/work/shots")
	if err != nil || len(cmds) != 2 {
		t.Fatalf("master audio: %q %v", cmds, err)
	}
	s := strings.Join(cmds[1], "\x00")
	for _, w := range []string{"-vn\x00", "-protocol_whitelist\x00file\x00", "-f\x00mxf\x00", "-i\x00file:/vol/-i evil:A001.mxf\x00", "[0:2]silencedetect"} {
		if !strings.Contains(s, w) {
			t.Errorf("master audio command lacks %q: %q", w, cmds[1])
		}
	}
	if strings.Contains(s, "proxy.mp4") || strings.Contains(strings.Join(cmds[0], "\x00"), "A001.mxf") {
		t.Errorf("audio reads the proxy or video reads the master: %q", cmds)
	}
	in.master.format = "hls"
	if _, err := args(in, 0.3, "/w"); err == nil {
		t.Error("a master detected as hls was opened")
	}
}

// TestAnalyseNoAudioAndCorrupt: a clip without audio is analysed (no
// loudness, an audio warning); a corrupt proxy fails with FFmpeg's error.
func TestAnalyseNoAudioAndCorrupt(t *testing.T) {
	in, ff := qcInput(t, false)
	r := transcode.Runner{FFmpeg: ff, Stall: time.Minute}
	res, err := analyse(context.Background(), r, in, testCfg(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	check(res, in, testCfg().Rules)
	if res.Loudness != nil || len(res.Black) != 1 || len(res.Shots) != 4 {
		t.Errorf("no-audio result: loudness %+v black %+v shots %d", res.Loudness, res.Black, len(res.Shots))
	}
	// Audio expected but absent from the proxy: an error the service
	// recognises (it then analyses the video only).
	in.audio = true
	if _, err := analyse(context.Background(), r, in, testCfg(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "matches no streams") {
		t.Errorf("audio missing from the proxy: %v, want FFmpeg's 'matches no streams'", err)
	}
	in.audio = false
	bad := filepath.Join(t.TempDir(), "proxy.mp4")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a movie ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	in.path, in.audio = bad, true
	_, err = analyse(context.Background(), r, in, testCfg(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "moov atom not found") || strings.Contains(err.Error(), "Stream mapping") {
		t.Errorf("corrupt proxy: err %v, want FFmpeg's error lines only", err)
	}
}

// TestAnalyseStalls: an FFmpeg that hangs without progress is killed by
// the stall watchdog and the analysis fails with ErrStalled.
func TestAnalyseStalls(t *testing.T) {
	in, _ := qcInput(t, true)
	hang := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := transcode.Runner{FFmpeg: hang, Stall: time.Second, WaitDelay: time.Second}
	t0 := time.Now()
	_, err := analyse(context.Background(), r, in, testCfg(), t.TempDir())
	if !errors.Is(err, transcode.ErrStalled) || time.Since(t0) > 20*time.Second {
		t.Errorf("hanging ffmpeg: err %v after %s, want ErrStalled after about 1s", err, time.Since(t0))
	}
}

// TestLoudnessReasonSaysDownmix: the loudness of a multichannel master is
// that of the proxy's stereo downmix, and its check says so.
func TestLoudnessReasonSaysDownmix(t *testing.T) {
	reason := func(in input) string {
		res := &Result{Duration: 10, Audio: true, Loudness: &storage.Loudness{Integrated: -24.9, TruePeak: -23}}
		check(res, in, testCfg().Rules)
		for _, c := range res.Checks {
			if c.Rule == "loudness" {
				return c.Reason
			}
		}
		return ""
	}
	if r := reason(input{audio: true, downmix: true}); !strings.Contains(r, "-24.9 LUFS (of the proxy's stereo downmix of a multichannel master)") {
		t.Errorf("5.1 master: reason %q", r)
	}
	if r := reason(input{audio: true}); r == "" || strings.Contains(r, "downmix") {
		t.Errorf("stereo master: reason %q", r)
	}
}
