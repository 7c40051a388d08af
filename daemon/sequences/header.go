package sequences

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
)

// HeaderInfo is what a frame's own header says about timing.
type HeaderInfo struct {
	Rate     *big.Rat // nil when the header gives none
	Timecode string   // HH:MM:SS:FF ("" when none); ';' before FF when drop-frame
}

// Header read limits: a DPX header is 2048 bytes (the film and TV headers
// end there); an EXR header is a list of attributes, read up to 64 KiB.
const (
	dpxHeaderLen = 2048
	exrHeaderMax = 64 << 10
)

// ReadHeader reads the timing of a DPX or EXR frame from its header
// (format "dpx" or "exr"; anything else returns an empty HeaderInfo). It
// reads at most dpxHeaderLen or exrHeaderMax bytes of path and never
// follows offsets in the file.
func ReadHeader(path, format string) (HeaderInfo, error) {
	var max int64
	switch format {
	case "dpx":
		max = dpxHeaderLen
	case "exr":
		max = exrHeaderMax
	default:
		return HeaderInfo{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return HeaderInfo{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return HeaderInfo{}, fmt.Errorf("read header of %s: %w", path, err)
	}
	if format == "dpx" {
		return parseDPX(b)
	}
	return parseEXR(b)
}

// parseDPX reads the SMPTE 268M header: magic "SDPX" (big-endian) or
// "XPDS" (little-endian) at 0, the offset to the image data at 4; when the
// headers reach that far, the film header's frame rate (float32 at 1724),
// the TV header's time code (BCD HHMMSSFF, at 1920) and the TV header's
// frame rate (float32 at 1940). All-ones fields are undefined.
func parseDPX(b []byte) (HeaderInfo, error) {
	var h HeaderInfo
	if len(b) < 8 {
		return h, fmt.Errorf("dpx: header too short (%d bytes)", len(b))
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "SDPX":
		bo = binary.BigEndian
	case "XPDS":
		bo = binary.LittleEndian
	default:
		return h, fmt.Errorf("dpx: bad magic %q", b[:4])
	}
	offset := int(bo.Uint32(b[4:8]))
	u32 := func(at int) (uint32, bool) {
		if at+4 > len(b) || at+4 > offset {
			return 0, false
		}
		v := bo.Uint32(b[at : at+4])
		return v, v != 0xFFFFFFFF
	}
	rate := func(at int) *big.Rat {
		v, ok := u32(at)
		if !ok {
			return nil
		}
		return floatRate(math.Float32frombits(v))
	}
	h.Rate = rate(1724) // film header
	if tv := rate(1940); h.Rate == nil {
		h.Rate = tv
	}
	if tc, ok := u32(1920); ok {
		h.Timecode = bcdTimecode(tc, false)
	}
	return h, nil
}

// floatRate turns a header's float frame rate into a fraction: the NTSC
// rates (23.976, 29.97, 59.94 ...) become n*1000/1001, others are rounded
// to 1/1000. Out-of-range values are nil.
func floatRate(f float32) *big.Rat {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 1 || v > 1000 {
		return nil
	}
	if n := math.Round(v * 1.001); math.Abs(v-n/1.001) < 0.002 && math.Abs(v-n) > 0.002 {
		return big.NewRat(int64(n)*1000, 1001)
	}
	return big.NewRat(int64(math.Round(v*1000)), 1000)
}

// bcdTimecode formats a SMPTE 12M time code packed as BCD with the hours in
// the most significant byte (DPX; EXR's timeAndFlags adds flags, bit 6
// drop-frame). An invalid digit gives "".
func bcdTimecode(v uint32, flags bool) string {
	d := func(units, tens uint32) (uint32, bool) { return tens*10 + units, units <= 9 && tens <= 9 }
	ff, ok1 := d(v&0xF, v>>4&0x3)
	ss, ok2 := d(v>>8&0xF, v>>12&0x7)
	mm, ok3 := d(v>>16&0xF, v>>20&0x7)
	hh, ok4 := d(v>>24&0xF, v>>28&0x3)
	if !ok1 || !ok2 || !ok3 || !ok4 || hh > 23 || mm > 59 || ss > 59 {
		return ""
	}
	sep := ":"
	if flags && v&(1<<6) != 0 {
		sep = ";"
	}
	return fmt.Sprintf("%02d:%02d:%02d%s%02d", hh, mm, ss, sep, ff)
}

// parseEXR reads the attributes of an OpenEXR header (magic 76 2f 31 01,
// a version word, then name\0 type\0 int32 size value ... and a null
// byte): framesPerSecond (rational: int32 n, uint32 d) and timeCode
// (timecode: uint32 timeAndFlags, uint32 userData).
func parseEXR(b []byte) (HeaderInfo, error) {
	var h HeaderInfo
	if len(b) < 8 || !bytes.Equal(b[:4], []byte{0x76, 0x2f, 0x31, 0x01}) {
		return h, fmt.Errorf("exr: bad magic")
	}
	i := 8
	cstr := func() (string, bool) {
		j := bytes.IndexByte(b[i:], 0)
		if j < 0 || j > 255 {
			return "", false
		}
		s := string(b[i : i+j])
		i += j + 1
		return s, true
	}
	for {
		name, ok := cstr()
		if !ok {
			return h, fmt.Errorf("exr: header truncated at byte %d", i)
		}
		if name == "" {
			return h, nil
		}
		typ, ok := cstr()
		if !ok || i+4 > len(b) {
			return h, fmt.Errorf("exr: header truncated at byte %d", i)
		}
		size := int(int32(binary.LittleEndian.Uint32(b[i:])))
		i += 4
		if size < 0 || i+size > len(b) {
			return h, fmt.Errorf("exr: attribute %q of %d bytes past the header", name, size)
		}
		v := b[i : i+size]
		i += size
		switch {
		case name == "framesPerSecond" && typ == "rational" && size == 8:
			n := int32(binary.LittleEndian.Uint32(v))
			d := binary.LittleEndian.Uint32(v[4:])
			if n > 0 && d > 0 {
				r := big.NewRat(int64(n), int64(d))
				if r.Cmp(big.NewRat(1, 1)) >= 0 && r.Cmp(big.NewRat(1000, 1)) <= 0 {
					h.Rate = r
				}
			}
		case name == "timeCode" && typ == "timecode" && size == 8:
			h.Timecode = bcdTimecode(binary.LittleEndian.Uint32(v), true)
		}
	}
}
