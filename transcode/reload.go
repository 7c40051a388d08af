package transcode

import (
	"context"
	"fmt"
)

// config is a copy of the current settings.
func (s *Service) config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// laneSizeLocked is the configured number of workers of lane; 0 for the
// GPU lane when there is no usable GPU. s.mu is held.
func (s *Service) laneSizeLocked(lane string) int {
	if lane == LaneGPU {
		if !s.detected || !s.caps.GPU() || s.cfg.GPU == GPUOff {
			return 0
		}
		return s.cfg.GPUJobs
	}
	return s.cfg.CPUJobs
}

// startWorkersLocked brings each lane up to its configured size (workers
// above it exit in next when idle). s.mu is held.
func (s *Service) startWorkersLocked() {
	if s.wctx == nil || s.wctx.Err() != nil {
		return
	}
	for _, lane := range []string{LaneCPU, LaneGPU} {
		for ; s.workers[lane] < s.laneSizeLocked(lane); s.workers[lane]++ {
			s.wg.Add(1)
			go func(ctx context.Context) {
				defer s.wg.Done()
				s.worker(ctx, lane)
			}(s.wctx)
		}
	}
	close(s.resized)
	s.resized = make(chan struct{})
}

// RestartKeys names the proxy keys that differ between old and nu and
// that Reload does not apply (they take effect after a restart): gpu (the
// hardware detection and the lanes it allows happen at start) and enabled.
func RestartKeys(old, nu Config) []string {
	old.SetDefaults()
	nu.SetDefaults()
	var ks []string
	if old.GPU != nu.GPU {
		ks = append(ks, "proxy.gpu")
	}
	if *old.Enabled != *nu.Enabled {
		ks = append(ks, "proxy.enabled")
	}
	return ks
}

// Reload applies cfg to the running stage: lane sizes (cpu_jobs, gpu_jobs)
// and nvenc_sessions at once — a running job is never interrupted, a lane
// made smaller loses workers as they go idle — and every output setting
// (max_height, bitrates, source_audio, preset, gop, filmstrip, poster,
// image, threads, stall_timeout) for jobs that start after it; running jobs finish with the
// settings they started with. gpu and enabled keep their running values
// (RestartKeys). An invalid cfg is rejected and nothing changes.
func (s *Service) Reload(cfg Config) error {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.nvenc.Resize(max(cfg.NVENCSessions, 1))
	s.mu.Lock()
	old := s.cfg
	// Field by field: gpu and enabled are read without the lock.
	c := &s.cfg
	c.MaxHeight, c.VideoBitrate, c.AudioBitrate, c.Preset, c.GOPSeconds = cfg.MaxHeight, cfg.VideoBitrate, cfg.AudioBitrate, cfg.Preset, cfg.GOPSeconds
	c.FilmstripTiles, c.FilmstripHeight, c.PosterAt, c.ImageMaxEdge = cfg.FilmstripTiles, cfg.FilmstripHeight, cfg.PosterAt, cfg.ImageMaxEdge
	c.CPUJobs, c.GPUJobs, c.NVENCSessions, c.Threads, c.StallTimeout = cfg.CPUJobs, cfg.GPUJobs, cfg.NVENCSessions, cfg.Threads, cfg.StallTimeout
	if c.sourceAudio() != cfg.sourceAudio() {
		// A new pointer only on a change: the log below compares with Sprint.
		v := cfg.sourceAudio()
		c.SourceAudio = &v
	}
	if s.laneSizeLocked(LaneGPU) == 0 && len(s.queue[LaneGPU]) > 0 {
		// No GPU workers any more: the queued GPU jobs go to the CPU lane.
		for _, j := range s.queue[LaneGPU] {
			j.lane = LaneCPU
		}
		s.queue[LaneCPU] = append(s.queue[LaneCPU], s.queue[LaneGPU]...)
		s.queue[LaneGPU] = nil
		select {
		case s.wake[LaneCPU] <- struct{}{}:
		default:
		}
	}
	s.startWorkersLocked()
	nc := s.cfg
	s.mu.Unlock()
	if fmt.Sprint(old) != fmt.Sprint(nc) {
		s.log.Info("settings reloaded", "cpu_jobs", nc.CPUJobs, "gpu_jobs", nc.GPUJobs, "nvenc_sessions", nc.NVENCSessions,
			"stall_timeout", nc.StallTimeout, "max_height", nc.MaxHeight, "video_bitrate", nc.VideoBitrate, "preset", nc.Preset,
			"source_audio", nc.sourceAudio())
	}
	return nil
}
