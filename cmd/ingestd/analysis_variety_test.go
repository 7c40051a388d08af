package main_test

// Edge analysis on footage variety and bad input (issue 14 red team): the
// real binary analyses, in one run, sources unlike the QC fixture and
// TestAnalysisE2ESources' — variable frame rate, interlaced PAL, 59.94
// drop-frame, 50 fps with its timecode in container metadata only, two
// mono tracks, FLAC, BWF, one frame, 0.3 s, digital silence, a cut at
// frame 1 with a freeze to the end, a huge frame size — and a stream with
// garbage in the middle and a truncated MP4 beside them. Times are checked
// within one frame of the generated positions in source timecode, R128
// against FFmpeg's own ebur128 run separately, verdicts with their reason.

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/storage"
	angen "github.com/ingestd/ingestd/testdata/analysis"
)

func TestAnalysisE2EVariety(t *testing.T) {
	ffmpeg, e, stage, gen := anE2EStage(t)
	// Phone-like variable frame rate: 30 fps to 3.5 s, then every other
	// frame dropped (15 fps); black from 2.0 s to 3.0 s; AAC whose last
	// 1.5 s are silent (a silence that touches the end). No frame falls
	// on 4.0 s or 5.0 s, where a keyframe was due: the proxy's keyframe
	// check failed such a proxy, and nothing of the asset was analysed.
	gen("vfr.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=6", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=6",
		"-filter_complex", "[0:v]drawbox=c=black:t=fill:enable='between(t,2,2.999)',select='lt(t,3.5)+mod(n,2)',format=yuv420p[v];"+
			"[1:a]volume=0:enable='gte(t,4.5)'[a]",
		"-map", "[v]", "-map", "[a]", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	// Interlaced PAL (25 frames/s, top field first): black frames 25–49.
	gen("pal50i.mov", "-f", "lavfi", "-i", "testsrc2=s=720x576:r=25:d=3",
		"-vf", "drawbox=c=black:t=fill:enable='between(n,25,49)',format=yuv420p,setfield=tff",
		"-flags", "+ildct+ilme", "-top", "1", "-c:v", "libx264", "-preset", "ultrafast", "-timecode", "10:00:00:00")
	// 59.94 drop-frame from 00:00:59;56: black frames 4–63 (frame 4 is
	// 00:01:00;04: labels ;00–;03 of minute 1 are dropped).
	gen("df5994.mov", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=60000/1001",
		"-vf", "drawbox=c=black:t=fill:enable='between(n,4,63)',format=yuv420p",
		"-frames:v", "120", "-c:v", "libx264", "-preset", "ultrafast", "-timecode", "00:00:59;56")
	// 50 fps in Matroska, its timecode only a container tag: black frames
	// 50–74 (10:00:01:00 to 10:00:01:25).
	gen("p50.mkv", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=50",
		"-vf", "drawbox=c=black:t=fill:enable='between(n,50,74)',format=yuv420p",
		"-frames:v", "150", "-c:v", "libx264", "-preset", "ultrafast", "-metadata", "timecode=10:00:00:00")
	// A programme on two mono tracks (A1 left, A2 right; EBU R 123) and
	// the same two channels as one stereo WAV, the reference.
	gen("pair-ref.wav", "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=6", "-f", "lavfi", "-i", "sine=f=700:r=48000:d=6",
		"-filter_complex", "[0:a]volume=-3dB[l];[1:a]volume=-9dB[r];[l][r]join=inputs=2:channel_layout=stereo[a]", "-map", "[a]", "-c:a", "pcm_s24le")
	gen("twomono.mov", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6", "-i", filepath.Join(stage, "pair-ref.wav"),
		"-filter_complex", "[1:a]channelsplit=channel_layout=stereo[l][r]", "-map", "0:v", "-map", "[l]", "-map", "[r]",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s24le")
	// FLAC whose first second is silent (a silence at the very start).
	gen("lead.flac", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=5", "-af", "volume=0:enable='lt(t,1)'", "-c:a", "flac")
	// Broadcast WAV (bext chunk, time reference).
	gen("bwf.wav", "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=4", "-af", "volume=-12dB", "-c:a", "pcm_s24le",
		"-write_bext", "1", "-metadata", "time_reference=172800000", "-metadata", "originator=ingestd-test")
	// One frame with 40 ms of audio; 0.3 s with audio (no whole 400 ms
	// block: integrated loudness cannot be measured); digital silence.
	gen("oneframe.mov", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25", "-f", "lavfi", "-i", "sine=f=440:r=48000",
		"-t", "0.04", "-c:v", "libx264", "-c:a", "pcm_s16le")
	gen("short.mov", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=0.3", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=0.3",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le")
	gen("silent.wav", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=3", "-c:a", "pcm_s16le")
	// A cut at frame 1 (frame 0 one picture, then another), and frames
	// 50–74 one held frame: a freeze that runs to the end.
	gen("cut1.mov", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3", "-f", "lavfi", "-i", "color=c=red:s=320x240:r=25:d=3",
		"-filter_complex", "[1:v]trim=end_frame=1,setpts=PTS-STARTPTS[a];[0:v]trim=start_frame=1:end_frame=51,setpts=PTS-STARTPTS,negate,tpad=stop=24:stop_mode=clone[b];"+
			"[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]", "-map", "[v]", "-frames:v", "75", "-c:v", "libx264", "-preset", "ultrafast")
	// A huge frame (8192x4320), three frames.
	gen("huge.mov", "-f", "lavfi", "-i", "testsrc2=s=8192x4320:r=25", "-frames:v", "3", "-c:v", "libx264", "-preset", "ultrafast")
	// MPEG-TS with 64 KiB of garbage in the middle; an MP4 cut short
	// (its moov at the end is gone).
	gen("garbage.ts", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "mp2")
	corrupt(t, filepath.Join(stage, "garbage.ts"), 0.5, 64<<10)
	gen("truncated.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4", "-c:v", "libx264", "-preset", "ultrafast")
	if err := truncateTo(filepath.Join(stage, "truncated.mp4"), 0.6); err != nil {
		t.Fatal(err)
	}
	names := []string{"vfr.mp4", "pal50i.mov", "df5994.mov", "p50.mkv", "twomono.mov", "lead.flac", "bwf.wav", "oneframe.mov",
		"short.mov", "silent.wav", "cut1.mov", "huge.mov", "garbage.ts"}
	e.start()
	for _, n := range append(names, "truncated.mp4") {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(e.watch, n)); err != nil {
			t.Fatal(err)
		}
	}
	evs := e.waitFeed(mediaTimeout, "analysis (or the proxy's failure) of every source", func(evs []storage.Event) bool {
		for _, n := range append(names, "truncated.mp4") {
			id := anE2EAsset(evs, n)
			if id == "" || (!anE2EHas(evs, storage.EvAnalysisReady, id) && !anE2EHas(evs, storage.EvAnalysisFailed, id) &&
				!anE2EHas(evs, storage.EvProxyFailed, id)) {
				return false
			}
		}
		return true
	})
	results := map[string]analysis.Result{}
	for _, n := range names {
		id := anE2EAsset(evs, n)
		if !anE2EHas(evs, storage.EvAnalysisReady, id) {
			var doc storage.AssetDoc
			anE2EGetJSON(t, e, "/v1/assets/"+id, &doc)
			if n == "garbage.ts" {
				// Its proxy or its analysis may fail, each with a reason.
				if (doc.Proxy == nil || doc.Proxy.Error == "") && (doc.Analysis == nil || doc.Analysis.Error == "") {
					t.Errorf("garbage.ts: neither analysed nor a reason: proxy %+v analysis %+v", doc.Proxy, doc.Analysis)
				}
				t.Logf("garbage.ts: proxy %+v analysis %+v", doc.Proxy, doc.Analysis)
				continue
			}
			t.Errorf("%s: not analysed: proxy %+v analysis %+v", n, doc.Proxy, doc.Analysis)
			continue
		}
		var res analysis.Result
		anE2EGetJSON(t, e, "/v1/assets/"+id+"/analysis.json", &res)
		results[n] = res
		t.Logf("%s: %.3fs %s tc %q black %+v freeze %+v silence %+v shots %d loudness %+v from %s %s; verdict %s %+v", n, res.Duration, res.FrameRate, res.StartTC,
			res.Black, res.Freeze, res.Silence, len(res.Shots), res.Loudness, res.AudioSource, res.AudioNote, res.Verdict, res.Checks)
	}
	// The truncated MP4 gets its proxy's failure, and nothing else is lost.
	if id := anE2EAsset(evs, "truncated.mp4"); anE2EHas(evs, storage.EvAnalysisReady, id) {
		t.Error("truncated.mp4 was analysed without a proxy")
	}
	seg := func(n, what string, s []analysis.Segment, i int, fps float64, startF, endF int, startTC, endTC string) {
		t.Helper()
		if i >= len(s) {
			t.Errorf("%s: %s %+v, want a segment #%d at frames %d..%d", n, what, s, i, startF, endF)
			return
		}
		g := s[i]
		if math.Abs(g.Start-float64(startF)/fps) > 1/fps+1e-6 || math.Abs(g.End-float64(endF)/fps) > 1/fps+1e-6 {
			t.Errorf("%s: %s %.4f..%.4f s, want frames %d..%d (%.4f..%.4f s) within one frame", n, what, g.Start, g.End, startF, endF, float64(startF)/fps, float64(endF)/fps)
		}
		if startTC != "" && (g.StartTC != startTC || g.EndTC != endTC) {
			t.Errorf("%s: %s %s..%s, want %s..%s", n, what, g.StartTC, g.EndTC, startTC, endTC)
		}
	}
	if r, ok := results["vfr.mp4"]; ok {
		seg("vfr.mp4", "black", r.Black, 0, 30, 60, 90, "", "")
		// A variable frame rate has no frame grid: seconds only (the
		// average rate's frames and timecodes drift from the picture).
		for _, s := range append(append(r.Black, r.Freeze...), r.Silence...) {
			if s.StartF != nil || s.EndF != nil || s.StartTC != "" || s.EndTC != "" {
				t.Errorf("vfr.mp4: segment %+v has frames or timecodes", s)
			}
		}
		if len(r.Silence) != 1 || math.Abs(r.Silence[0].Start-4.5) > 0.05 || math.Abs(r.Silence[0].End-r.Duration) > 0.05 {
			t.Errorf("vfr.mp4 silence %+v, want 4.5 s to the end (%.3f s)", r.Silence, r.Duration)
		}
	}
	if r, ok := results["pal50i.mov"]; ok {
		seg("pal50i.mov", "black", r.Black, 0, 25, 25, 50, "10:00:01:00", "10:00:02:00")
	}
	if r, ok := results["df5994.mov"]; ok {
		seg("df5994.mov", "black", r.Black, 0, 60000.0/1001, 4, 64, "00:01:00;04", "00:01:01;04")
	}
	if r, ok := results["p50.mkv"]; ok {
		seg("p50.mkv", "black", r.Black, 0, 50, 50, 75, "10:00:01:00", "10:00:01:25")
	}
	if r, ok := results["lead.flac"]; ok {
		if len(r.Silence) != 1 || r.Silence[0].Start > 0.01 || math.Abs(r.Silence[0].End-1) > 0.05 {
			t.Errorf("lead.flac silence %+v, want 0 to 1 s", r.Silence)
		}
	}
	if r, ok := results["cut1.mov"]; ok {
		if len(r.Shots) != 2 || r.Shots[1].StartF == nil || *r.Shots[1].StartF != 1 {
			t.Errorf("cut1.mov shots %+v, want starts at frames 0 and 1", r.Shots)
		}
		var fz []analysis.Segment
		for _, f := range r.Freeze {
			if f.Start > 1 {
				fz = append(fz, f)
			}
		}
		seg("cut1.mov", "freeze", fz, 0, 25, 50, 75, "", "")
	}
	if r, ok := results["huge.mov"]; ok && (len(r.Shots) != 1 || !r.Video) {
		t.Errorf("huge.mov: %+v", r)
	}
	// R128 against ebur128 run separately: on the master, and for the
	// two mono tracks on the same channels as one stereo file.
	for n, ref := range map[string]string{"twomono.mov": "pair-ref.wav", "lead.flac": "", "bwf.wav": "", "vfr.mp4": ""} {
		r, ok := results[n]
		if !ok {
			continue
		}
		p := filepath.Join(e.watch, n)
		if ref != "" {
			p = filepath.Join(stage, ref)
		}
		want, err := angen.Ebur128(context.Background(), ffmpeg, p)
		if err != nil {
			t.Fatal(err)
		}
		l := r.Loudness
		if l == nil || r.AudioSource != "master" || math.Abs(l.Integrated-want["I"]) > 0.1 || math.Abs(l.Range-want["LRA"]) > 0.2 || math.Abs(l.TruePeak-want["Peak"]) > 0.2 {
			t.Errorf("%s: loudness %+v from %s, ebur128 on %s says I %.1f LRA %.1f TP %.1f", n, l, r.AudioSource, filepath.Base(p), want["I"], want["LRA"], want["Peak"])
		}
	}
	if r, ok := results["twomono.mov"]; ok && !anE2EReason(r, "loudness", "first two mono tracks as a stereo pair") {
		t.Errorf("twomono.mov checks %+v: the loudness reason should say the pair was measured", r.Checks)
	}
	// Too short or silent: integrated loudness is not measurable; a warning
	// that says so, not a failure 47 LU off the target.
	for n, reason := range map[string]string{"short.mov": "shorter than one 400 ms block", "oneframe.mov": "shorter than one 400 ms block", "silent.wav": "silent"} {
		if r, ok := results[n]; ok && !anE2EReasonVerdict(r, "loudness", "warn", reason) {
			t.Errorf("%s: checks %+v, want loudness warn %q", n, r.Checks, reason)
		}
	}
	e.stop()
}

// anE2EReason reports whether res has a check of rule whose reason holds s.
func anE2EReason(res analysis.Result, rule, s string) bool {
	for _, c := range res.Checks {
		if c.Rule == rule && strings.Contains(c.Reason, s) {
			return true
		}
	}
	return false
}

func anE2EReasonVerdict(res analysis.Result, rule, verdict, s string) bool {
	for _, c := range res.Checks {
		if c.Rule == rule && c.Verdict == verdict && strings.Contains(c.Reason, s) {
			return true
		}
	}
	return false
}

// corrupt overwrites n bytes at fraction at of the file with garbage.
func corrupt(t *testing.T, p string, at float64, n int) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(i*7919 + i>>3)
	}
	if _, err := f.WriteAt(junk, int64(float64(fi.Size())*at)); err != nil {
		t.Fatal(err)
	}
}

// truncateTo cuts the file to fraction frac of its size.
func truncateTo(p string, frac float64) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	return os.Truncate(p, int64(float64(fi.Size())*frac))
}
