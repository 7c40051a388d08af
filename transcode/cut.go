package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/ingestd/ingestd/storage"
)

// unsupportedError marks a source FFmpeg cannot decode.
type unsupportedError struct{ reason string }

func (e unsupportedError) Error() string { return e.reason }

// cutResult is what a job produced.
type cutResult struct {
	media   *storage.Media
	kind    string
	profile string
	width   int
	height  int
	frames  int64
	bytes   int64
	outputs []string
}

// Output file names under storage.OutputPath.
const (
	OutProxyVideo = "proxy.mp4"
	OutProxyAudio = "proxy.m4a"
	OutProxyImage = "proxy.jpg"
	OutPoster     = "poster.jpg"
	OutFilmstrip  = "filmstrip.jpg"
	OutWaveform   = "waveform.json"
)

// cut makes every output of one asset on the given lane.
func (s *Service) cut(ctx context.Context, j *job, doc storage.AssetDoc, lane string) (cutResult, error) {
	var res cutResult
	// The job runs with the settings of its start: a reload applies to
	// later jobs only.
	j.cfg = s.config()
	src, err := s.masterPath(doc)
	if err != nil {
		return res, err
	}
	res.media, res.kind = doc.Media, doc.Kind
	if res.media == nil || res.kind == "" {
		m, kind, err := Probe(ctx, s.tools.FFprobe, src)
		var refused *RefusedError
		if errors.As(err, &refused) {
			res.media, res.kind = &storage.Media{Container: refused.Format}, KindOther
			return res, unsupportedError{refused.Reason()}
		}
		if err != nil {
			return res, err
		}
		res.media, res.kind = m, kind
	}
	if r := unsupportedReason(src, res.media); r != "" {
		return res, unsupportedError{r}
	}
	if demuxer(res.media.Container) == "" {
		// Probed before formats were restricted: never opened again.
		return res, unsupportedError{(&RefusedError{Format: res.media.Container}).Reason()}
	}
	dir := filepath.Dir(storage.OutputPath(s.stateDir, doc.ID, OutPoster))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("output dir %s: %w", dir, err)
	}
	// Leftovers of an interrupted run are never served: remove them.
	if olds, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(olds) > 0 {
		for _, o := range olds {
			os.Remove(o)
		}
	}
	switch res.kind {
	case KindVideo:
		err = s.cutVideo(ctx, j, src, dir, lane, &res)
	case KindAudio:
		err = s.cutAudio(ctx, j, src, dir, &res)
	case KindImage:
		err = s.cutImage(ctx, j, src, dir, &res)
	default:
		return res, fmt.Errorf("asset %s: kind %q has no proxy", doc.ID, res.kind)
	}
	if err != nil {
		return res, err
	}
	if fi, err := os.Stat(filepath.Join(dir, res.outputs[0])); err == nil {
		res.bytes = fi.Size()
	}
	return res, nil
}

func (s *Service) runner(j *job) *Runner {
	return &Runner{FFmpeg: s.tools.FFmpeg, Stall: j.cfg.StallTimeout, Log: s.log}
}

// run runs one FFmpeg step for job j, tracking its progress.
func (s *Service) run(ctx context.Context, j *job, encoder string, duration float64, args []string) error {
	_, err := s.runCapture(ctx, j, encoder, duration, args)
	return err
}

func (s *Service) runCapture(ctx context.Context, j *job, encoder string, duration float64, args []string) (string, error) {
	return s.runCaptureOut(ctx, j, encoder, duration, args, nil)
}

// runCaptureOut is runCapture with FFmpeg's stdout going to stdout.
func (s *Service) runCaptureOut(ctx context.Context, j *job, encoder string, duration float64, args []string, stdout io.Writer) (string, error) {
	s.mu.Lock()
	j.encoder, j.duration, j.prog = encoder, duration, Progress{}
	s.mu.Unlock()
	return s.runner(j).RunCapture(ctx, args, stdout, func(p Progress) {
		s.mu.Lock()
		j.prog = p
		s.mu.Unlock()
	})
}

// step writes one output to name.tmp, validates it, and renames it.
func step(dir, name string, make func(tmp string) error) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := make(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// cutVideo makes the proxy, poster, filmstrip and waveform of a video in
// one FFmpeg run (videoJobPlan: the master is read and decoded once), then
// validates each output and renames it into place: the proxy first, then
// the poster, the filmstrip and the waveform. A failed validation removes
// what is left of the run.
func (s *Service) cutVideo(ctx context.Context, j *job, src, dir, lane string, res *cutResult) error {
	m := res.media
	v, ok := videoStream(m)
	if !ok {
		return fmt.Errorf("%s: no video stream", src)
	}
	srcFrames := v.Frames
	if srcFrames == 0 {
		n, err := countFrames(ctx, s.tools.FFprobe, m.Container, src)
		if err != nil {
			return err
		}
		srcFrames = n
		v.Frames = n
		for i := range m.Streams {
			if m.Streams[i].Index == v.Index {
				m.Streams[i].Frames = n
			}
		}
	}
	s.mu.Lock()
	caps := s.caps
	s.mu.Unlock()
	tmp := func(name string) string { return filepath.Join(dir, name+".tmp") }
	// The proxy keeps every frame and starts at the first one, so its
	// timeline is the source video's (validateVideo holds it to one frame).
	dur := videoDuration(m, v)
	d := derived{Poster: tmp(OutPoster), PosterAt: j.cfg.PosterAt * dur,
		Filmstrip: tmp(OutFilmstrip), Duration: dur, Tiles: j.cfg.FilmstripTiles, TileHeight: j.cfg.FilmstripHeight,
		PCM: len(audioStreams(m)) > 0}
	d.LastPick, d.HasLast = lastPick(dur, srcFrames)
	pl, err := videoJobPlan(j.cfg, caps, m, src, tmp(OutProxyVideo), lane, d)
	if err != nil {
		return err
	}
	if pl.Encoder == "h264_nvenc" {
		if err := s.nvenc.Acquire(ctx); err != nil {
			return err
		}
		defer s.nvenc.Release()
	}
	tmps := []string{tmp(OutProxyVideo), d.Poster, d.Filmstrip}
	defer func() {
		for _, t := range tmps {
			os.Remove(t) // nothing left once renamed
		}
	}()
	var pw *peakWriter
	var stdout io.Writer
	if d.PCM {
		pw = newPeakWriter(48000, 2, samplesPerPeak(dur, 48000))
		stdout = pw
	}
	stderr, err := s.runCaptureOut(ctx, j, pl.Encoder, m.Duration, pl.Args, stdout)
	if err != nil {
		return fmt.Errorf("proxy of %s: %w", src, err)
	}
	rep, err := validateVideo(ctx, s.tools.FFprobe, tmp(OutProxyVideo), m, srcFrames, j.cfg, pl)
	if err != nil && stderr != "" {
		err = fmt.Errorf("%w; ffmpeg said: %s", err, excerpt(stderr, 800))
	}
	if err != nil {
		return err
	}
	if err := place(dir, OutProxyVideo); err != nil {
		return err
	}
	res.profile, res.width, res.height, res.frames = pl.Profile, pl.Width, pl.Height, rep.Frames
	res.outputs = []string{OutProxyVideo}
	if err := validateJPEG(d.Poster, pl.Width, pl.Height); err != nil {
		return fmt.Errorf("poster of %s: %w", src, err)
	}
	if err := place(dir, OutPoster); err != nil {
		return err
	}
	res.outputs = append(res.outputs, OutPoster)
	if err := validateJPEG(d.Filmstrip, 0, j.cfg.FilmstripHeight); err != nil {
		return fmt.Errorf("filmstrip of %s: %w", src, err)
	}
	if err := place(dir, OutFilmstrip); err != nil {
		return err
	}
	res.outputs = append(res.outputs, OutFilmstrip)
	if pw != nil {
		if err := writeWaveform(dir, pw, src); err != nil {
			return err
		}
		res.outputs = append(res.outputs, OutWaveform)
	}
	return nil
}

// videoDuration is the duration of the first video stream of m (v): as
// stored, else from its frame count and rate, else the container's.
func videoDuration(m *storage.Media, v storage.Stream) float64 {
	if v.Duration > 0 {
		return v.Duration
	}
	if fps := ratFloat(v.FrameRate); v.Frames > 0 && fps > 0 && !v.VFR {
		return float64(v.Frames) / fps
	}
	return m.Duration
}

// place renames name.tmp, written and validated, to name in dir.
func place(dir, name string) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// writeWaveform writes waveform.json from the PCM the proxy run wrote to pw.
func writeWaveform(dir string, pw *peakWriter, src string) error {
	return step(dir, OutWaveform, func(tmp string) error {
		w := pw.Result()
		if w.Length == 0 {
			return fmt.Errorf("waveform of %s: no samples", src)
		}
		b, err := json.Marshal(w)
		if err != nil {
			return fmt.Errorf("waveform of %s: %w", src, err)
		}
		return os.WriteFile(tmp, b, 0o644)
	})
}

// cutAudio makes the M4A proxy and the waveform in one FFmpeg run (the
// master is read and decoded once), then validates and renames them.
func (s *Service) cutAudio(ctx context.Context, j *job, src, dir string, res *cutResult) error {
	tmp := filepath.Join(dir, OutProxyAudio+".tmp")
	pl, err := audioJobPlan(j.cfg, res.media, src, tmp, true)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // nothing left once renamed
	dur := res.media.Duration
	for _, a := range audioStreams(res.media) {
		dur = math.Max(dur, a.Duration)
	}
	pw := newPeakWriter(48000, 2, samplesPerPeak(dur, 48000))
	if _, err := s.runCaptureOut(ctx, j, pl.Encoder, res.media.Duration, pl.Args, pw); err != nil {
		return fmt.Errorf("audio proxy of %s: %w", src, err)
	}
	if _, err := validateAudio(ctx, s.tools.FFprobe, tmp, res.media); err != nil {
		return err
	}
	if err := place(dir, OutProxyAudio); err != nil {
		return err
	}
	res.profile = pl.Profile
	res.outputs = []string{OutProxyAudio}
	if err := writeWaveform(dir, pw, src); err != nil {
		return err
	}
	res.outputs = append(res.outputs, OutWaveform)
	return nil
}

func (s *Service) cutImage(ctx context.Context, j *job, src, dir string, res *cutResult) error {
	pl, err := imagePlan(j.cfg, res.media, src, "")
	if err != nil {
		return err
	}
	err = step(dir, OutProxyImage, func(tmp string) error {
		args := append(append([]string{}, pl.Args[:len(pl.Args)-1]...), tmp)
		if err := s.run(ctx, j, pl.Encoder, 0, args); err != nil {
			return fmt.Errorf("image proxy of %s: %w", src, err)
		}
		return validateImage(ctx, s.tools.FFprobe, tmp, pl.Width, pl.Height)
	})
	if err != nil {
		return err
	}
	res.profile, res.width, res.height, res.frames = pl.Profile, pl.Width, pl.Height, 1
	res.outputs = []string{OutProxyImage}
	return nil
}
