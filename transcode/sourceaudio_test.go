package transcode

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSourceAudioSetting cuts real proxies of zoo clips with
// proxy.source_audio on and off: on adds the planned source tracks, off
// leaves today's single mix, each passes validation against its own plan,
// and a proxy missing the planned tracks (or carrying unplanned ones) fails
// it. The proxy sizes are logged (the cost of the extra tracks; libx264's
// threaded rate control varies the video by a few hundred bytes per run).
func TestSourceAudioSetting(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	for _, c := range []struct {
		name     string
		on, off  int // audio tracks with source_audio on and off
		channels []int
	}{
		{"prores_tc_4ch.mov", 5, 1, []int{2, 1, 1, 1, 1}},
		{"xdcam_discrete_4ch.mxf", 5, 1, []int{2, 1, 1, 1, 1}},
		{"anamorphic_pal.mov", 2, 1, []int{2, 6}},
		{"avchd.mts", 1, 1, []int{2}},
		{"anamorphic_hdv.mov", 0, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(dir, c.name)
			m, _, err := Probe(t.Context(), tools.FFprobe, src)
			if err != nil {
				t.Fatal(err)
			}
			frames, err := countFrames(t.Context(), tools.FFprobe, m.Container, src)
			if err != nil {
				t.Fatal(err)
			}
			plans := map[bool]plan{}
			outs := map[bool]string{}
			sizes := map[bool]int64{}
			for _, on := range []bool{true, false} {
				cfg := Config{SourceAudio: &on}
				cfg.SetDefaults()
				out := filepath.Join(t.TempDir(), "proxy.mp4")
				pl, err := videoPlan(cfg, Capabilities{}, m, src, out, LaneCPU)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: c.on, false: c.off}[on]; len(pl.Audio) != want {
					t.Fatalf("source_audio %v: %d planned tracks, want %d", on, len(pl.Audio), want)
				}
				if err := (&Runner{FFmpeg: tools.FFmpeg}).Run(t.Context(), pl.Args, nil, nil); err != nil {
					t.Fatalf("source_audio %v: %v", on, err)
				}
				if _, err := validateVideo(t.Context(), tools.FFprobe, out, m, frames, cfg, pl); err != nil {
					t.Fatalf("source_audio %v: %v", on, err)
				}
				p, err := runProbe(t.Context(), tools.FFprobe, out, ownInput(fmtMP4, out), "-show_streams")
				if err != nil {
					t.Fatal(err)
				}
				var chans []int
				for _, s := range p.Streams {
					if s.CodecType == "audio" {
						chans = append(chans, s.Channels)
					}
				}
				want := c.channels
				if !on && len(want) > 1 {
					want = want[:1]
				}
				if !slices.Equal(chans, want) {
					t.Errorf("source_audio %v: audio channels %v, want %v", on, chans, want)
				}
				fi, err := os.Stat(out)
				if err != nil {
					t.Fatal(err)
				}
				plans[on], outs[on], sizes[on] = pl, out, fi.Size()
			}
			t.Logf("%s proxy bytes: source_audio off %d, on %d (+%d, %+.0f%%)", c.name, sizes[false], sizes[true],
				sizes[true]-sizes[false], 100*float64(sizes[true]-sizes[false])/float64(sizes[false]))
			if c.on == c.off {
				return
			}
			cfg := Config{}
			cfg.SetDefaults()
			// The mix-only proxy against the plan with source tracks, and the
			// other way round: both are failed validations.
			for _, x := range []struct {
				out string
				pl  plan
			}{{outs[false], plans[true]}, {outs[true], plans[false]}} {
				_, err := validateVideo(t.Context(), tools.FFprobe, x.out, m, frames, cfg, x.pl)
				if err == nil || !strings.Contains(err.Error(), "audio tracks, want") {
					t.Errorf("proxy with the wrong audio tracks passed validation: %v", err)
				}
			}
			// A source track under another name or with another channel
			// count fails too.
			pl := plans[true]
			pl.Audio = append([]audioTrack(nil), pl.Audio...)
			pl.Audio[1].Title, pl.Audio[1].Channels = "A9 (stream 9)", pl.Audio[1].Channels+1
			_, err = validateVideo(t.Context(), tools.FFprobe, outs[true], m, frames, cfg, pl)
			if err == nil || !strings.Contains(err.Error(), "audio track 2 is named") || !strings.Contains(err.Error(), "audio track 2 is aac LC 48000 Hz") {
				t.Errorf("wrong name and channels passed validation: %v", err)
			}
			pl.Audio[1] = plans[true].Audio[1]
			pl.Audio[1].Duration += 0.2
			_, err = validateVideo(t.Context(), tools.FFprobe, outs[true], m, frames, cfg, pl)
			if err == nil || !strings.Contains(err.Error(), "audio track 2 lasts") {
				t.Errorf("a track 0.2s short of its source passed validation: %v", err)
			}
		})
	}
}
