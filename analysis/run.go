package analysis

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/transcode"
)

// Output names under storage.OutputPath.
const (
	OutJSON  = "analysis.json"
	OutShots = "shots.jpg"
	OutThumb = "shots" // folder of per-shot thumbnails NNNNN.jpg
)

// WAVFilter is the audio filter of the enrichers' WAV (and of
// ingestd-enrich-stt's own decode): time 0 is the programme's first
// frame, not the audio's first sample.
const WAVFilter = "aresample=async=1:first_pts=0"

// clipDB is the peak level (dBFS) at and over which a channel's samples at
// its peak count as clipped: full scale (an s16 32767 is -0.0003 dBFS).
const clipDB = -0.001

// Result is analysis.json (daemon/api/wire, the served document).
type Result = wire.Analysis

// input is what one analysis reads: the proxy, and what the asset's
// probe says of the master.
type input struct {
	path      string // proxy file
	format    string // demuxer
	video     bool
	audio     bool
	duration  float64
	frameRate string
	// vfr: the master's frame rate is variable (frameRate is its
	// average): its times have no frame numbers or timecodes.
	vfr      bool
	timecode string
	width    int
	height   int
	// mono: the master's audio is one mono stream, which the proxy
	// carries on both sides (transcode's audioMix); its loudness is
	// measured on one side, as FFmpeg's ebur128 measures the master.
	mono bool
	// downmix: the master's audio has more than two channels (or several
	// streams), which the proxy carries as a stereo mix: loudness is that
	// mix's, and the loudness check says so. Set only when the audio is
	// measured on the proxy (master nil).
	downmix bool
	// proxyDownmix is downmix as it would be for the proxy's audio (for
	// the fallback from the master).
	proxyDownmix bool
	// master, when set, is the master's audio stream the audio pass
	// (silence, loudness, true peak, clipping) measures instead of the
	// proxy's mix; nil measures the proxy (master offline or unreadable,
	// the reason in audioNote).
	master *masterAudio
	// audioNote says why the audio was measured on the proxy (served as
	// analysis.json audio_note).
	audioNote string
}

// masterAudio is the master's audio the audio pass measures: the first
// stream the proxy's mix uses (transcode's audioMix mixes every audio
// stream), or for several mono tracks (e.g. 4× mono MXF) the first two as
// one stereo pair. A multichannel stream keeps its layout, so that
// ebur128 weights a 5.1 programme's channels as R128 says.
type masterAudio struct {
	path   string // the master on its volume
	format string // its probed container (storage.Media.Container)
	stream int    // FFmpeg stream index (0:<stream>)
	// right, when > 0, is the stream index of a second mono track that
	// is measured with the first as one stereo programme (first left,
	// this right): a master of several mono tracks (EBU R 123: A1/A2 are
	// the programme's L/R) is measured as the pair, not as A1 alone.
	right int
}

// args builds the FFmpeg commands of an analysis, each reading its input
// through transcode's input builder (file protocol only, demuxer forced):
// one for the video (the proxy), a graph ending in the shot thumbnails
// (image2 into thumbs), and one for the audio (the master's stream when
// in.master is set, else the proxy's mix), a graph ending in a null sink. They are
// two processes, not one graph with two outputs: FFmpeg feeds the output
// that lags, and the thumbnail output lags for as long as a shot lasts, so
// a single process would hold that shot's decoded audio in memory (a
// 10-hour static take: gigabytes).
func args(in input, scene float64, thumbs string) ([][]string, error) {
	if !in.video && !in.audio {
		return nil, fmt.Errorf("nothing to analyse in %s", filepath.Base(in.path))
	}
	base, err := transcode.InputArgs(in.format, in.path)
	if err != nil {
		return nil, err
	}
	base = append([]string{"-loglevel", "info"}, base...)
	var cmds [][]string
	if in.video {
		cmds = append(cmds, append(slices.Clone(base), "-filter_complex",
			fmt.Sprintf("[0:v:0]split[bk][v];"+
				// blackdetect on a branch padded with one white frame: at
				// the end of the stream it reports black_end as the last
				// frame's start, one frame short of a black tail's end.
				"[bk]tpad=stop=1:color=white,blackdetect=d=0:pix_th=0.10,nullsink;"+
				"[v]freezedetect=n=0.002:d=0.2,"+
				"select='eq(n\\,0)+gt(scene\\,%g)',showinfo,scale=160:-2,format=yuvj420p[th]", scene),
			"-map", "[th]", "-fps_mode", "passthrough", "-q:v", "5", "-f", "image2",
			transcode.Literal(filepath.Join(thumbs, "%05d.jpg"))))
	}
	if in.audio {
		abase, pre := base, "[0:a:0]"
		if in.master != nil {
			// The master itself, audio only, through the same input
			// builder (file protocol only, probed demuxer forced).
			a, err := transcode.InputArgs(in.master.format, in.master.path)
			if err != nil {
				return nil, err
			}
			abase = append([]string{"-loglevel", "info", "-vn"}, a...)
			pre = fmt.Sprintf("[0:%d]", in.master.stream)
			if in.master.right > 0 {
				pre = fmt.Sprintf("[0:%d][0:%d]join=inputs=2:channel_layout=stereo:map=0.0-FL|1.0-FR,", in.master.stream, in.master.right)
			}
		} else if in.mono {
			pre += "pan=mono|c0=c0,"
		}
		cmds = append(cmds, append(slices.Clone(abase), "-filter_complex",
			pre+"silencedetect=n=-60dB:d=0.5,astats=measure_perchannel=Peak_level+Peak_count:measure_overall=Peak_level+Peak_count+Number_of_samples,ebur128=peak=true+sample[ao]",
			"-map", "[ao]", "-f", "null", "-"))
	}
	return cmds, nil
}

// extractWAV writes the first audio stream of in's proxy to out as a
// 16 kHz mono 16-bit WAV (the enrichers' audio input). Its first sample is
// the programme's time 0: audio that starts after the picture is padded
// with silence at the start (aresample first_pts=0), so that the times an
// enricher gives are the programme's.
func extractWAV(ctx context.Context, r transcode.Runner, in input, out string) error {
	base, err := transcode.InputArgs(in.format, in.path)
	if err != nil {
		return err
	}
	a := append(base, "-map", "0:a:0", "-af", WAVFilter, "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", "-f", "wav", transcode.Literal(out))
	if err := r.Run(ctx, a, nil, nil); err != nil {
		return fmt.Errorf("extract %s: %w", filepath.Base(out), err)
	}
	return nil
}

// analyse runs FFmpeg over in, writes the thumbnails into work/shots and
// the contact sheet work/shots.jpg, and returns the result (checks not yet
// applied).
func analyse(ctx context.Context, r transcode.Runner, in input, cfg Config, work string) (*Result, error) {
	return analyseProgress(ctx, r, in, cfg, work, nil)
}

// analyseProgress is analyse calling progress, if set, with the fraction
// (0..1) of the programme FFmpeg has read (the mean over its processes).
func analyseProgress(ctx context.Context, r transcode.Runner, in input, cfg Config, work string, progress func(float64)) (*Result, error) {
	thumbs := filepath.Join(work, OutThumb)
	if err := os.MkdirAll(thumbs, 0o755); err != nil {
		return nil, fmt.Errorf("thumbnail dir: %w", err)
	}
	if in.master != nil {
		// FFmpeg prints its input's name among the filter reports it
		// parses: the master's name is the volume's (untrusted, may hold
		// a newline and a forged report), so it reads the master through
		// a link of fixed name in work.
		link := filepath.Join(work, "master")
		_ = os.Remove(link)
		if err := os.Symlink(in.master.path, link); err != nil {
			return nil, fmt.Errorf("link to the master: %w", err)
		}
		m := *in.master
		m.path, in.master = link, &m
	}
	cmds, err := args(in, cfg.SceneThreshold, thumbs)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	parsers, err := runAll(ctx, r, cmds, in.duration, progress)
	if err != nil {
		return nil, err
	}
	// One parser per process: merge what each saw (the video's segments
	// and cuts, the audio's silence and loudness).
	p := parsers[0]
	if len(parsers) == 2 {
		a := parsers[1]
		p.silence, p.openSilence = a.silence, a.openSilence
		p.integrated, p.lra, p.tp, p.haveR128 = a.integrated, a.lra, a.tp, a.haveR128
		p.peakDB, p.peakCount, p.havePeak, p.samples, p.clipped = a.peakDB, a.peakCount, a.havePeak, a.samples, a.clipped
		p.truncated = p.truncated || a.truncated
	}
	p.finish(in.duration)
	res := &Result{Duration: in.duration, Video: in.video, Audio: in.audio, StartTC: in.timecode,
		FrameRate: in.frameRate, Truncated: p.truncated, Black: p.black, Freeze: p.freeze, Silence: p.silence}
	if in.audio {
		res.AudioSource, res.AudioNote = "proxy", in.audioNote
		if in.master != nil {
			res.AudioSource = "master"
		}
	}
	var rt rate
	var tc timecode
	if in.video && in.frameRate != "" && !in.vfr {
		// (A variable frame rate has no frame grid: a frame number or
		// timecode from the average rate would drift from the picture.)
		if x, err := parseRate(in.frameRate); err == nil {
			rt, tc = x, parseTimecode(in.timecode, x)
		}
	}
	stamp := func(t float64) (*int64, string) {
		if rt.num == 0 {
			return nil, ""
		}
		f := rt.frame(t)
		return &f, tc.at(f)
	}
	for _, list := range [][]Segment{res.Black, res.Freeze, res.Silence} {
		for i := range list {
			list[i].StartF, list[i].StartTC = stamp(list[i].Start)
			list[i].EndF, list[i].EndTC = stamp(list[i].End)
		}
	}
	if in.audio && p.haveR128 {
		l := &storage.Loudness{Integrated: floorDB(p.integrated), Range: p.lra, TruePeak: floorDB(p.tp),
			SamplePeak: floorDB(p.peakDB)}
		if p.havePeak && p.peakDB >= clipDB { // samples at full scale: clipped
			// Summed over the channels at full scale (astats' overall
			// peak count is a mean over all channels).
			l.ClippedSamples = p.clipped
		}
		res.Loudness = l
	} else if in.audio {
		return nil, fmt.Errorf("ebur128 gave no summary for %s", filepath.Base(in.path))
	}
	// Shots: one per selected frame, thumbnails in order of the frames.
	files, _ := filepath.Glob(filepath.Join(thumbs, "*.jpg"))
	sort.Strings(files)
	for i, t := range p.cuts {
		s := Shot{Start: t, End: in.duration}
		s.StartF, s.StartTC = stamp(t)
		if i < len(files) && i < cfg.MaxThumbnails {
			s.Thumbnail = OutThumb + "/" + filepath.Base(files[i])
		}
		if i > 0 {
			res.Shots[i-1].End = t
		}
		res.Shots = append(res.Shots, s)
	}
	for i := cfg.MaxThumbnails; i < len(files); i++ {
		_ = os.Remove(files[i])
	}
	if len(files) > cfg.MaxThumbnails {
		files = files[:cfg.MaxThumbnails]
	}
	if len(files) > 0 {
		if err := contactSheet(files, filepath.Join(work, OutShots)); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(start).Seconds()
	if res.Black == nil {
		res.Black = []Segment{}
	}
	if res.Freeze == nil {
		res.Freeze = []Segment{}
	}
	if res.Silence == nil {
		res.Silence = []Segment{}
	}
	if res.Shots == nil {
		res.Shots = []Shot{}
	}
	return res, nil
}

// contactSheet tiles the thumbnails, 10 a row, into one JPEG.
func contactSheet(files []string, out string) error {
	const cols = 10
	var imgs []image.Image
	w, h := 0, 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("thumbnail: %w", err)
		}
		img, err := jpeg.Decode(fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("thumbnail %s: %w", filepath.Base(f), err)
		}
		b := img.Bounds()
		w, h = max(w, b.Dx()), max(h, b.Dy())
		imgs = append(imgs, img)
	}
	rows := (len(imgs) + cols - 1) / cols
	c := min(len(imgs), cols)
	sheet := image.NewRGBA(image.Rect(0, 0, c*w, rows*h))
	for i, img := range imgs {
		at := image.Pt(i%cols*w, i/cols*h)
		draw.Draw(sheet, image.Rectangle{Min: at, Max: at.Add(img.Bounds().Size())}, img, img.Bounds().Min, draw.Src)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("contact sheet: %w", err)
	}
	if err := jpeg.Encode(f, sheet, &jpeg.Options{Quality: 80}); err != nil {
		f.Close()
		return fmt.Errorf("contact sheet %s: %w", out, err)
	}
	return f.Close()
}

// runAll runs cmds at once, each with its own stderr parser, and returns
// the parsers in order. The first failure cancels the others and is
// returned with FFmpeg's error lines (not the filter reports around them).
func runAll(ctx context.Context, r transcode.Runner, cmds [][]string, duration float64, progress func(float64)) ([]*parser, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parsers := make([]*parser, len(cmds))
	var mu sync.Mutex
	var first error // set before cancel: a process killed by it fails later
	frac := make([]float64, len(cmds))
	var wg sync.WaitGroup
	for i, a := range cmds {
		parsers[i] = &parser{}
		rr := r
		rr.Stderr = parsers[i]
		var onProgress func(transcode.Progress)
		if progress != nil && duration > 0 {
			onProgress = func(p transcode.Progress) {
				mu.Lock()
				defer mu.Unlock()
				frac[i] = min(1, max(0, float64(p.OutTimeUS)/(duration*1e6)))
				sum := 0.0
				for _, f := range frac {
					sum += f
				}
				progress(sum / float64(len(frac)))
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rr.Run(ctx, a, nil, onProgress); err != nil {
				var re *transcode.RunError
				if errors.As(err, &re) && len(parsers[i].errs) > 0 {
					err = fmt.Errorf("%w: %s", re.Err, strings.Join(parsers[i].errs, "\n"))
				}
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return parsers, nil
}
