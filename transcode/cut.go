package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	s.mu.Lock()
	j.encoder, j.duration, j.prog = encoder, duration, Progress{}
	s.mu.Unlock()
	return s.runner(j).RunCapture(ctx, args, nil, func(p Progress) {
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
		for i := range m.Streams {
			if m.Streams[i].Index == v.Index {
				m.Streams[i].Frames = n
			}
		}
	}
	s.mu.Lock()
	caps := s.caps
	s.mu.Unlock()
	pl, err := videoPlan(j.cfg, caps, m, src, "", lane)
	if err != nil {
		return err
	}
	if pl.Encoder == "h264_nvenc" {
		if err := s.nvenc.Acquire(ctx); err != nil {
			return err
		}
		defer s.nvenc.Release()
	}
	var rep proxyReport
	err = step(dir, OutProxyVideo, func(tmp string) error {
		args := append(append([]string{}, pl.Args[:len(pl.Args)-1]...), tmp)
		stderr, err := s.runCapture(ctx, j, pl.Encoder, m.Duration, args)
		if err != nil {
			return fmt.Errorf("proxy of %s: %w", src, err)
		}
		rep, err = validateVideo(ctx, s.tools.FFprobe, tmp, m, srcFrames, j.cfg, pl)
		if err != nil && stderr != "" {
			err = fmt.Errorf("%w; ffmpeg said: %s", err, excerpt(stderr, 800))
		}
		return err
	})
	if err != nil {
		return err
	}
	res.profile, res.width, res.height, res.frames = pl.Profile, pl.Width, pl.Height, rep.Frames
	res.outputs = []string{OutProxyVideo}
	proxy := filepath.Join(dir, OutProxyVideo)
	dur := rep.Duration
	if err := step(dir, OutPoster, func(tmp string) error {
		if err := s.run(ctx, j, "mjpeg", 0, posterArgs(proxy, j.cfg.PosterAt*dur, tmp)); err != nil {
			return fmt.Errorf("poster of %s: %w", src, err)
		}
		return validateImage(ctx, s.tools.FFprobe, tmp, pl.Width, pl.Height)
	}); err != nil {
		return err
	}
	res.outputs = append(res.outputs, OutPoster)
	if err := step(dir, OutFilmstrip, func(tmp string) error {
		if err := s.run(ctx, j, "mjpeg", dur, filmstripArgs(proxy, dur, j.cfg.FilmstripTiles, j.cfg.FilmstripHeight, tmp)); err != nil {
			return fmt.Errorf("filmstrip of %s: %w", src, err)
		}
		return validateImage(ctx, s.tools.FFprobe, tmp, 0, 0)
	}); err != nil {
		return err
	}
	res.outputs = append(res.outputs, OutFilmstrip)
	if len(audioStreams(m)) > 0 {
		if err := s.waveform(ctx, j, proxy, dur, dir); err != nil {
			return err
		}
		res.outputs = append(res.outputs, OutWaveform)
	}
	return nil
}

func (s *Service) cutAudio(ctx context.Context, j *job, src, dir string, res *cutResult) error {
	pl, err := audioPlan(j.cfg, res.media, src, "")
	if err != nil {
		return err
	}
	var rep proxyReport
	err = step(dir, OutProxyAudio, func(tmp string) error {
		args := append(append([]string{}, pl.Args[:len(pl.Args)-1]...), tmp)
		if err := s.run(ctx, j, pl.Encoder, res.media.Duration, args); err != nil {
			return fmt.Errorf("audio proxy of %s: %w", src, err)
		}
		rep, err = validateAudio(ctx, s.tools.FFprobe, tmp, res.media)
		return err
	})
	if err != nil {
		return err
	}
	res.profile = pl.Profile
	res.outputs = []string{OutProxyAudio}
	if err := s.waveform(ctx, j, filepath.Join(dir, OutProxyAudio), rep.Duration, dir); err != nil {
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

// waveform decodes the proxy's first audio track and writes waveform.json.
func (s *Service) waveform(ctx context.Context, j *job, proxy string, duration float64, dir string) error {
	return step(dir, OutWaveform, func(tmp string) error {
		pw := newPeakWriter(48000, 2, samplesPerPeak(duration, 48000))
		s.mu.Lock()
		j.encoder, j.duration = "pcm", duration
		s.mu.Unlock()
		if err := s.runner(j).Run(ctx, pcmArgs(proxy), pw, nil); err != nil {
			return fmt.Errorf("waveform of %s: %w", proxy, err)
		}
		w := pw.Result()
		if w.Length == 0 {
			return fmt.Errorf("waveform of %s: no samples", proxy)
		}
		b, err := json.Marshal(w)
		if err != nil {
			return err
		}
		return os.WriteFile(tmp, b, 0o644)
	})
}
