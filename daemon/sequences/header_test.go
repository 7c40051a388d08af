package sequences

import (
	"encoding/binary"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
	gen "github.com/ingestd/ingestd/testdata/sequences"
)

// Headers written by the generator (FFmpeg frames with the fields patched
// in as a scanner or renderer writes them) are read back.
func TestReadHeaderGenerated(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	cases := []struct {
		spec gen.Spec
		rate *big.Rat
		tc   string // of the second frame
	}{
		{gen.Spec{Base: "d.", Ext: "dpx", First: 1001, Frames: 2, FPS: 25, Timecode: "01:00:00:00"}, big.NewRat(25, 1), "01:00:00:01"},
		{gen.Spec{Base: "e.", Ext: "exr", First: 1, Frames: 2, FPS: 30, Timecode: "10:00:59:29"}, big.NewRat(30, 1), "10:01:00:00"},
		{gen.Spec{Base: "plain.", Ext: "dpx", First: 1, Frames: 2}, nil, ""},
		// FFmpeg's EXR encoder writes framesPerSecond (the 24 fps render) itself.
		{gen.Spec{Base: "plain.", Ext: "exr", First: 1, Frames: 2}, big.NewRat(24, 1), ""},
	}
	for _, c := range cases {
		t.Run(c.spec.Name(1), func(t *testing.T) {
			paths, err := gen.Render(ffmpeg, dir, c.spec)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ReadHeader(paths[1], c.spec.Ext)
			if err != nil {
				t.Fatal(err)
			}
			if (h.Rate == nil) != (c.rate == nil) || (h.Rate != nil && h.Rate.Cmp(c.rate) != 0) {
				t.Errorf("rate = %v, want %v", h.Rate, c.rate)
			}
			if h.Timecode != c.tc {
				t.Errorf("timecode = %q, want %q", h.Timecode, c.tc)
			}
		})
	}
}

func TestParseDPXFields(t *testing.T) {
	mk := func(bo binary.ByteOrder, magic string, offset uint32, film, tv float32, tc uint32) []byte {
		b := make([]byte, 2048)
		for i := 1664; i < 2048; i++ {
			b[i] = 0xFF
		}
		copy(b, magic)
		bo.PutUint32(b[4:], offset)
		if film != 0 {
			bo.PutUint32(b[1724:], math.Float32bits(film))
		}
		if tv != 0 {
			bo.PutUint32(b[1940:], math.Float32bits(tv))
		}
		if tc != 0 {
			bo.PutUint32(b[1920:], tc)
		}
		return b
	}
	cases := []struct {
		name string
		b    []byte
		rate string
		tc   string
		err  bool
	}{
		{"big-endian film rate", mk(binary.BigEndian, "SDPX", 2048, 24, 0, 0x01020304), "24/1", "01:02:03:04", false},
		{"little-endian tv rate", mk(binary.LittleEndian, "XPDS", 2048, 0, 29.97, 0x23595923), "30000/1001", "23:59:59:23", false},
		{"23.976", mk(binary.BigEndian, "SDPX", 2048, 23.976, 0, 0), "24000/1001", "", false},
		{"short header ignores film/tv", mk(binary.BigEndian, "SDPX", 1664, 24, 24, 0x01000000), "", "", false},
		{"absurd rate", mk(binary.BigEndian, "SDPX", 2048, 1e9, 0, 0), "", "", false},
		{"bad bcd", mk(binary.BigEndian, "SDPX", 2048, 0, 0, 0x0A000000), "", "", false},
		{"bad magic", []byte("GIF89a\x00\x00\x00\x00"), "", "", true},
		{"too short", []byte("SDP"), "", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := parseDPX(c.b)
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			rate := ""
			if h.Rate != nil {
				rate = ratString(h.Rate)
			}
			if rate != c.rate || h.Timecode != c.tc {
				t.Errorf("got %q %q, want %q %q", rate, h.Timecode, c.rate, c.tc)
			}
		})
	}
}

func TestParseEXRBounds(t *testing.T) {
	hdr := []byte{0x76, 0x2f, 0x31, 0x01, 2, 0, 0, 0}
	attr := func(name, typ string, size uint32, v []byte) []byte {
		b := append([]byte(name+"\x00"+typ+"\x00"), binary.LittleEndian.AppendUint32(nil, size)...)
		return append(b, v...)
	}
	fps := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 24000), 1001)
	tc := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x01000040|0x12), 0) // drop-frame flag
	good := append(append(append(append([]byte{}, hdr...), attr("framesPerSecond", "rational", 8, fps)...), attr("timeCode", "timecode", 8, tc)...), 0)
	h, err := parseEXR(good)
	if err != nil || h.Rate == nil || ratString(h.Rate) != "24000/1001" || h.Timecode != "01:00:00;12" {
		t.Errorf("good header: %+v %v", h, err)
	}
	for name, b := range map[string][]byte{
		"size past end": append(append([]byte{}, hdr...), attr("x", "int", 1<<30, nil)...),
		"negative size": append(append([]byte{}, hdr...), attr("x", "int", 0xFFFFFFFF, nil)...),
		"no terminator": append(append([]byte{}, hdr...), "unterminated"...),
	} {
		if _, err := parseEXR(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// ReadHeader reads at most exrHeaderMax bytes of a huge file.
	f := filepath.Join(t.TempDir(), "big.exr")
	big := append(append([]byte{}, hdr...), make([]byte, 4<<20)...)
	for i := 8; i < len(big); i++ {
		big[i] = 'a'
	}
	if err := os.WriteFile(f, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHeader(f, "exr"); err == nil {
		t.Error("endless attribute name accepted")
	}
}
