package sequences

import (
	"context"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
	gen "github.com/ingestd/ingestd/testdata/sequences"
	"github.com/ingestd/ingestd/transcode"
)

// Cut makes a proxy with one frame per present frame and a poster, for a
// generated sequence of each format FFmpeg writes here, gaps included.
func TestCutEachFormat(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	ffprobe := testenv.Need(t, "ffprobe")
	var prof transcode.Config
	prof.SetDefaults()
	prof.MaxHeight = 72 // below the 90 px frames: scaled down, even size
	for _, c := range []struct {
		ext, format string
		tc          string
	}{
		{"dpx", "dpx_pipe", "01:00:00:00"},
		{"exr", "exr_pipe", "02:00:00:00"},
		{"tif", "tiff_pipe", ""},
		{"png", "png_pipe", ""},
		{"jpg", "image2", ""},
	} {
		t.Run(c.ext, func(t *testing.T) {
			dir := t.TempDir()
			spec := gen.Spec{Base: "s.", Ext: c.ext, First: 1, Frames: 12, Skip: []int64{5, 6}, FPS: 25, Timecode: c.tc}
			if c.tc == "" {
				spec.FPS = 0
			}
			files, err := gen.Render(ffmpeg, dir, spec)
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := transcode.Probe(context.Background(), ffprobe, files[0])
			if err != nil {
				t.Fatal(err)
			}
			format, ok := demuxerOf(m.Container, files[0])
			if !ok || format != c.format {
				t.Fatalf("demuxer of %s = %q, want %q", c.ext, format, c.format)
			}
			out := filepath.Join(dir, "out")
			res, err := Cut(context.Background(), Job{FFmpeg: ffmpeg, FFprobe: ffprobe, Files: files, Format: format,
				Linear: format == "exr_pipe", Rate: big.NewRat(25, 1), Timecode: c.tc, Dir: out, Profile: prof, Log: slog.Default()})
			if err != nil {
				t.Fatal(err)
			}
			if res.Frames != 10 || res.Height != 72 || res.Width != 128 {
				t.Errorf("result %+v, want 10 frames 128x72", res)
			}
			probe := exec.Command(ffprobe, "-v", "error", "-count_frames", "-show_entries",
				"stream=codec_name,nb_read_frames,r_frame_rate,pix_fmt:stream_tags=timecode", "-of", "default=nw=1", filepath.Join(out, OutProxy))
			b, err := probe.Output()
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			for _, want := range []string{"codec_name=h264", "nb_read_frames=10", "r_frame_rate=25/1", "pix_fmt=yuv420p"} {
				if !strings.Contains(got, want) {
					t.Errorf("proxy: %q missing in\n%s", want, got)
				}
			}
			if c.tc != "" && !strings.Contains(got, "TAG:timecode="+c.tc) {
				t.Errorf("proxy timecode: want %s in\n%s", c.tc, got)
			}
			pb, err := os.ReadFile(filepath.Join(out, OutPoster))
			if err != nil || len(pb) < 100 || pb[0] != 0xFF || pb[1] != 0xD8 {
				t.Errorf("poster: %d bytes, %v", len(pb), err)
			}
			if _, err := os.Stat(filepath.Join(out, listName)); !os.IsNotExist(err) {
				t.Errorf("concat list left behind: %v", err)
			}
		})
	}
}

// A frame that is not what its siblings are (here a PNG named .dpx) is
// refused by the per-entry format whitelist: the cut fails, nothing is
// placed.
func TestCutRefusesOtherFormat(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	ffprobe := testenv.Need(t, "ffprobe")
	dir := t.TempDir()
	files, err := gen.Render(ffmpeg, dir, gen.Spec{Base: "s.", Ext: "dpx", First: 1, Frames: 4})
	if err != nil {
		t.Fatal(err)
	}
	png, err := gen.Render(ffmpeg, t.TempDir(), gen.Spec{Base: "p.", Ext: "png", First: 1, Frames: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(png[0])
	if err := os.WriteFile(files[2], b, 0o644); err != nil {
		t.Fatal(err)
	}
	var prof transcode.Config
	prof.SetDefaults()
	out := filepath.Join(dir, "out")
	_, err = Cut(context.Background(), Job{FFmpeg: ffmpeg, FFprobe: ffprobe, Files: files, Format: "dpx_pipe",
		Rate: big.NewRat(24, 1), Dir: out, Profile: prof})
	if err == nil || !strings.Contains(err.Error(), "whitelist") {
		t.Fatalf("err = %v, want a format whitelist refusal", err)
	}
	if _, err := os.Stat(filepath.Join(out, OutProxy)); !os.IsNotExist(err) {
		t.Errorf("a proxy was placed: %v", err)
	}
}

func TestUsableTimecode(t *testing.T) {
	for _, c := range []struct {
		tc   string
		fps  float64
		want string
	}{
		{"01:00:00:00", 24, "01:00:00:00"},
		{"01:00:00:29", 24, ""},
		{"01:00:00;12", 24, "01:00:00:12"},
		{"01:00:00;12", 30000.0 / 1001, "01:00:00;12"},
		{"01:00:00;12", 60000.0 / 1001, "01:00:00;12"},
		{"", 24, ""},
	} {
		if got := usableTimecode(c.tc, c.fps); got != c.want {
			t.Errorf("usableTimecode(%q, %g) = %q, want %q", c.tc, c.fps, got, c.want)
		}
	}
}
