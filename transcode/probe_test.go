package transcode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

func TestProbeZoo(t *testing.T) {
	dir, clips := zoo(t)
	for _, c := range clips {
		t.Run(c.Name, func(t *testing.T) {
			m, kind, err := Probe(t.Context(), "ffprobe", filepath.Join(dir, c.Name))
			if c.Kind == KindOther || c.Name == "A001_C002.braw" {
				if err == nil && kind != KindOther {
					t.Fatalf("kind %q for a non-media file", kind)
				}
				if err != nil && !errors.Is(err, ErrProbe) {
					t.Fatalf("err %v, want ErrProbe", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kind != c.Kind {
				t.Fatalf("kind %q, want %q", kind, c.Kind)
			}
			if m.Timecode != c.Timecode {
				t.Errorf("timecode %q, want %q", m.Timecode, c.Timecode)
			}
			if m.DropFrame != (c.Timecode != "" && c.Timecode[8] == ';') {
				t.Errorf("drop frame %v for %q", m.DropFrame, c.Timecode)
			}
			var audio []storage.Stream
			for _, s := range m.Streams {
				if s.Type == "audio" {
					audio = append(audio, s)
				}
			}
			if len(audio) != c.Audio {
				t.Errorf("%d audio streams, want %d", len(audio), c.Audio)
			}
			if c.Audio > 0 && audio[0].Channels != c.Channels {
				t.Errorf("channels %d, want %d", audio[0].Channels, c.Channels)
			}
			if c.Kind != KindVideo {
				return
			}
			v, ok := videoStream(m)
			if !ok {
				t.Fatal("no video stream")
			}
			if c.FrameRate != "" && v.FrameRate != c.FrameRate {
				t.Errorf("frame rate %s, want %s", v.FrameRate, c.FrameRate)
			}
			if v.VFR != c.VFR {
				t.Errorf("vfr %v, want %v", v.VFR, c.VFR)
			}
			if interlaced(v) != c.Interlace {
				t.Errorf("field order %q, want interlaced=%v", v.FieldOrder, c.Interlace)
			}
			if v.Rotation != c.Rotation && v.Rotation != (360-c.Rotation)%360 {
				t.Errorf("rotation %d, want ±%d", v.Rotation, c.Rotation)
			}
			if v.HDR != c.HDR {
				t.Errorf("hdr %q, want %q", v.HDR, c.HDR)
			}
			if c.HDR != "" && v.BitDepth != 10 {
				t.Errorf("bit depth %d, want 10", v.BitDepth)
			}
		})
	}
}

func TestProbeDetails(t *testing.T) {
	dir, _ := zoo(t)
	m, _, err := Probe(t.Context(), "ffprobe", filepath.Join(dir, "prores_tc_4ch.mov"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Container != "mov" || m.Make != "ARRI" || m.Model != "ALEXA Mini" || m.Streams[0].Codec != "prores" || m.Streams[0].Frames != 24 {
		t.Errorf("prores media %+v", m)
	}
	m, _, err = Probe(t.Context(), "ffprobe", filepath.Join(dir, "bext_tc.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if m.TimeReference != 172800000 || m.Container != "wav" {
		t.Errorf("bwf media %+v, want time_reference 172800000", m)
	}
	m, _, err = Probe(t.Context(), "ffprobe", filepath.Join(dir, "anamorphic_pal.mov"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Streams[0].SAR != "16:15" || m.Streams[1].Layout != "5.1" {
		t.Errorf("pal media %+v", m.Streams)
	}
	m, _, err = Probe(t.Context(), "ffprobe", filepath.Join(dir, "unknown_codec.mov"))
	if err != nil {
		t.Fatal(err)
	}
	if r := unsupportedReason("x.mov", m); r == "" {
		t.Errorf("unknown codec not flagged: %+v", m.Streams)
	}
}

func TestNormTimecode(t *testing.T) {
	for _, c := range []struct {
		in, want string
		drop     bool
	}{
		{"01:00:00:00", "01:00:00:00", false},
		{"01:00:00;02", "01:00:00;02", true},
		{"01;00;00;02", "01:00:00;02", true},
		{"10:00:00.12", "10:00:00;12", true},
	} {
		got, drop := normTimecode(c.in)
		if got != c.want || drop != c.drop {
			t.Errorf("%s: %s %v, want %s %v", c.in, got, drop, c.want, c.drop)
		}
	}
}

func TestFrameRate(t *testing.T) {
	for _, c := range []struct {
		r, avg, want string
		vfr          bool
	}{
		{"24000/1001", "24000/1001", "24000/1001", false},
		{"30000/1001", "2997/100", "30000/1001", false},
		{"30/1", "600/29", "600/29", true},
		{"25/1", "0/0", "25/1", false},
	} {
		got, vfr := frameRate(c.r, c.avg)
		if got != c.want || vfr != c.vfr {
			t.Errorf("%s %s: %s %v, want %s %v", c.r, c.avg, got, vfr, c.want, c.vfr)
		}
	}
}

// TestProbeRunsNiced: ffprobe runs at a lower CPU priority (probeNice), so
// probing the files of a first ingest behind it takes the CPU only when
// hashing and cataloging leave it. The real ffprobe, through a wrapper that
// records its niceness once it is set (or after 5 s) and then execs it.
func TestProbeRunsNiced(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	got := filepath.Join(dir, "nice")
	wrapper := filepath.Join(dir, "ffprobe")
	script := "#!/bin/sh\nfor i in $(seq 500); do n=$(cut -d' ' -f19 /proc/$$/stat); [ \"$n\" = " + fmt.Sprint(probeNice) +
		" ] && break; sleep 0.01; done\necho \"$n\" > " + got + "\nexec ffprobe \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	clips, _ := zoo(t)
	if _, _, err := Probe(t.Context(), wrapper, filepath.Join(clips, "prores_tc_4ch.mov")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.TrimSpace(string(b)); n != fmt.Sprint(probeNice) {
		t.Fatalf("ffprobe ran at nice %s, want %d", n, probeNice)
	}
}
