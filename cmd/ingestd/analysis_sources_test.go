package main_test

// Edge analysis on sources unlike the QC fixture (issue 14 review): the
// real binary analyses a mono WAV, a stereo MP3 and a 23.976 fps clip with
// a start timecode and black at its very start and end. R128 figures are
// checked against FFmpeg's own ebur128 run separately on the MASTER (what
// a user measures), times against the known frames in source timecode.

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	angen "github.com/ingestd/ingestd/testdata/analysis"
)

func TestAnalysisE2ESources(t *testing.T) {
	ffmpeg, e, stage, gen := anE2EStage(t)
	// A mono WAV: a tone whose level steps (so that the range is not 0).
	gen("mono.wav", "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=8",
		"-af", "volume=-6dB:enable='between(t,4,8)'", "-c:a", "pcm_s16le")
	// A stereo MP3 with a 2 s silence.
	gen("talk.mp3", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=6",
		"-af", "volume=-10dB,volume=0:enable='between(t,1,3)'", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k")
	// 23.976 fps, start timecode 01:00:00:00, mono PCM: black frames
	// 0–23, testsrc2 24–119, negated 120–215, black 216–239.
	gen("tc2398.mov", "-f", "lavfi", "-i", "color=black:s=640x360:r=24000/1001",
		"-f", "lavfi", "-i", "testsrc2=s=640x360:r=24000/1001", "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=10.01",
		"-filter_complex", "[0:v]trim=end_frame=24,setpts=PTS-STARTPTS[a];[1:v]trim=end_frame=96,setpts=PTS-STARTPTS[b];"+
			"[1:v]trim=start_frame=96:end_frame=192,setpts=PTS-STARTPTS,negate[c];[0:v]trim=end_frame=24,setpts=PTS-STARTPTS[d];"+
			"[a][b][c][d]concat=n=4:v=1:a=0,format=yuv420p[v]",
		"-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le",
		"-frames:v", "240", "-timecode", "01:00:00:00")
	// 29.97 fps drop-frame from 00:00:59;00 with stereo AAC: black frames
	// 45–74 (labels 00:01:00;00 and ;01 are dropped: frame 45 is
	// 00:01:00;17), a cut back to picture at 75.
	gen("df2997.mov", "-f", "lavfi", "-i", "testsrc2=s=720x480:r=30000/1001", "-f", "lavfi", "-i", "color=black:s=720x480:r=30000/1001",
		"-f", "lavfi", "-i", "sine=f=500:r=48000:d=5",
		"-filter_complex", "[0:v]trim=end_frame=45,setpts=PTS-STARTPTS[a];[1:v]trim=end_frame=30,setpts=PTS-STARTPTS[b];"+
			"[0:v]trim=start_frame=75:end_frame=150,setpts=PTS-STARTPTS,negate[c];[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v];[2:a]pan=stereo|c0=c0|c1=c0[au]",
		"-map", "[v]", "-map", "[au]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-frames:v", "150", "-timecode", "00:00:59;00")
	// A 5.1 master: one tone at other levels per channel (R128 weights
	// the surrounds +1.5 dB and leaves out the LFE; a stereo downmix of it
	// reads about 4.7 LU lower).
	gen("surround.wav", "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=8",
		"-af", "volume=-6dB:enable='between(t,4,8)',pan=5.1|FL=c0|FR=0.5*c0|FC=0.7*c0|LFE=0.3*c0|BL=c0|BR=0.8*c0", "-c:a", "pcm_s24le")
	// A hard-clipped stereo master: the left channel 24 dB over full scale,
	// the right under it.
	gen("clipped.wav", "-f", "lavfi", "-i", "sine=f=997:r=48000:d=4",
		"-af", "volume=24dB,pan=stereo|c0=c0|c1=0.06*c0", "-c:a", "pcm_s16le")
	wantClipped := anE2EClipped(t, filepath.Join(stage, "clipped.wav"))
	if wantClipped < 10000 {
		t.Fatalf("clipped.wav has %d samples at full scale; the fixture should clip hard", wantClipped)
	}
	names := []string{"mono.wav", "talk.mp3", "tc2398.mov", "df2997.mov", "surround.wav", "clipped.wav"}
	e.start()
	for _, n := range names {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(e.watch, n)); err != nil {
			t.Fatal(err)
		}
	}
	evs := e.waitFeed(mediaTimeout, "analysis of every source", func(evs []storage.Event) bool {
		for _, n := range names {
			id := anE2EAsset(evs, n)
			if id == "" || !anE2EHas(evs, storage.EvAnalysisReady, id) {
				return false
			}
		}
		return true
	})
	for _, n := range names {
		id := anE2EAsset(evs, n)
		var res analysis.Result
		anE2EGetJSON(t, e, "/v1/assets/"+id+"/analysis.json", &res)
		l := res.Loudness
		if l == nil {
			t.Errorf("%s: no loudness: %+v", n, res)
			continue
		}
		// Measured on the master itself (not the AAC proxy's mix): the
		// figures are ebur128's on the master.
		if res.AudioSource != "master" || res.AudioNote != "" {
			t.Errorf("%s: audio_source %q (note %q), want the master", n, res.AudioSource, res.AudioNote)
		}
		want, err := angen.Ebur128(context.Background(), ffmpeg, filepath.Join(e.watch, n))
		if err != nil {
			t.Fatal(err)
		}
		i, lra, tp := want["I"], want["LRA"], want["Peak"]
		t.Logf("%s: I %.1f (ebur128 on the master %.1f) LRA %.1f (%.1f) TP %.1f (%.1f)", n, l.Integrated, i, l.Range, lra, l.TruePeak, tp)
		if math.Abs(l.Integrated-i) > 0.1 || math.Abs(l.Range-lra) > 0.2 || math.Abs(l.TruePeak-tp) > 0.2 {
			t.Errorf("%s: I %.1f LRA %.1f TP %.1f, ebur128 on the master says %.1f %.1f %.1f", n, l.Integrated, l.Range, l.TruePeak, i, lra, tp)
		}
		switch n {
		case "clipped.wav":
			t.Logf("clipped.wav: clipped_samples %d, %d in the master's PCM", l.ClippedSamples, wantClipped)
			if math.Abs(float64(l.ClippedSamples-wantClipped)) > 0.01*float64(wantClipped) {
				t.Errorf("clipped.wav: clipped_samples %d, the master's PCM has %d samples at full scale", l.ClippedSamples, wantClipped)
			}
			if !anE2ECheck(res, "clipping", "fail") {
				t.Errorf("clipped.wav: checks %+v, want clipping fail", res.Checks)
			}
		case "surround.wav":
			if l.ClippedSamples != 0 {
				t.Errorf("surround.wav: clipped_samples %d, want 0", l.ClippedSamples)
			}
		case "talk.mp3":
			if len(res.Silence) != 1 || math.Abs(res.Silence[0].Start-1) > 0.05 || math.Abs(res.Silence[0].End-3) > 0.05 {
				t.Errorf("talk.mp3 silence %+v, want 1 s to 3 s", res.Silence)
			}
		case "df2997.mov":
			if len(res.Black) != 1 || len(res.Shots) != 3 {
				t.Fatalf("df2997.mov: black %+v shots %+v, want 1 black segment, 3 shots", res.Black, res.Shots)
			}
			b := res.Black[0]
			if b.StartTC != "00:01:00;17" || b.EndTC != "00:01:01;17" || *b.StartF != 45 || *b.EndF != 75 || res.Shots[2].StartTC != "00:01:01;17" {
				t.Errorf("df2997.mov black %s..%s (frames %d..%d), shot 2 at %s; want 00:01:00;17..00:01:01;17 (45..75), 00:01:01;17",
					b.StartTC, b.EndTC, *b.StartF, *b.EndF, res.Shots[2].StartTC)
			}
		case "tc2398.mov":
			const fps = 24000.0 / 1001
			near := func(what string, got float64, frame int) {
				if math.Abs(got-float64(frame)/fps) > 1/fps+1e-6 {
					t.Errorf("tc2398.mov %s = %.4f s, want frame %d (%.4f s) within one frame", what, got, frame, float64(frame)/fps)
				}
			}
			if len(res.Black) != 2 || len(res.Shots) != 4 {
				t.Fatalf("tc2398.mov: black %+v shots %+v, want 2 black segments, 4 shots", res.Black, res.Shots)
			}
			near("first black start", res.Black[0].Start, 0)
			near("first black end", res.Black[0].End, 24)
			near("last black start", res.Black[1].Start, 216)
			near("last black end", res.Black[1].End, 240)
			for i, f := range []int{0, 24, 120, 216} {
				near("shot start", res.Shots[i].Start, f)
			}
			if res.Black[1].StartTC != "01:00:09:00" || res.Shots[2].StartTC != "01:00:05:00" {
				t.Errorf("tc2398.mov timecodes: last black %q shot 2 %q, want 01:00:09:00, 01:00:05:00", res.Black[1].StartTC, res.Shots[2].StartTC)
			}
		}
	}
	e.stop()
}

// anE2EStage needs ffmpeg and ffprobe and returns ffmpeg, a daemon
// environment (CPU proxies, not started), a staging folder beside its
// watched folder, and gen, which writes stage/name with FFmpeg and args.
func anE2EStage(t *testing.T) (string, *env, string, func(name string, args ...string)) {
	t.Helper()
	ffmpeg := testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	e := newEnv(t, "", "proxy:\n  gpu: off\n")
	stage := filepath.Join(e.dir, "stage")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	gen := func(name string, args ...string) {
		t.Helper()
		a := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)
		if out, err := exec.CommandContext(context.Background(), ffmpeg, append(a, filepath.Join(stage, name))...).CombinedOutput(); err != nil {
			t.Fatalf("generate %s: %v: %s", name, err, out)
		}
	}
	return ffmpeg, e, stage, gen
}

// anE2EClipped counts the samples of a 16-bit PCM WAV at full scale
// (32767 or -32768), read from its data chunk.
func anE2EClipped(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("data"))
	if i < 0 || i+8 > len(b) {
		t.Fatalf("%s: no data chunk", path)
	}
	n := int(binary.LittleEndian.Uint32(b[i+4:]))
	d := b[i+8 : min(len(b), i+8+n)]
	var c int64
	for j := 0; j+1 < len(d); j += 2 {
		if v := int16(binary.LittleEndian.Uint16(d[j:])); v == math.MaxInt16 || v == math.MinInt16 {
			c++
		}
	}
	return c
}

// anE2ECheck reports whether res has rule with that verdict.
func anE2ECheck(res analysis.Result, rule, verdict string) bool {
	for _, c := range res.Checks {
		if c.Rule == rule && c.Verdict == verdict {
			return true
		}
	}
	return false
}
