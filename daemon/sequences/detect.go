package sequences

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// Frame is one file name of a sequence: <Base><digits>.<Ext>.
type Frame struct {
	Name   string // the file name
	Base   string // everything before the frame number, separator included ("shot_010.")
	Number int64
	Width  int    // digits in the name (the padding)
	Ext    string // as written (case kept)
}

// maxDigits bounds the frame number (fits an int64 with room).
const maxDigits = 12

// ParseFrame splits a file name of the form <base><digits>.<ext> whose
// extension (case-insensitive) is in exts. The base may be empty ("0001.dpx")
// or end in any separator ('.', '_', '-'); the digits are the frame number
// and their count its padding.
func ParseFrame(name string, exts []string) (Frame, bool) {
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 {
		return Frame{}, false
	}
	ext := name[dot+1:]
	ok := false
	for _, e := range exts {
		if strings.EqualFold(e, ext) {
			ok = true
			break
		}
	}
	if !ok {
		return Frame{}, false
	}
	stem := name[:dot]
	i := len(stem)
	for i > 0 && stem[i-1] >= '0' && stem[i-1] <= '9' {
		i--
	}
	digits := stem[i:]
	if digits == "" || len(digits) > maxDigits {
		return Frame{}, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return Frame{}, false
	}
	return Frame{Name: name, Base: stem[:i], Number: n, Width: len(digits), Ext: ext}, true
}

// Key is what the frames of one sequence share.
type Key struct {
	Base  string
	Ext   string
	Width int
}

// Pattern is the printf-style name of the sequence ("shot_010.%04d.exr").
func (k Key) Pattern() string {
	return strings.ReplaceAll(k.Base, "%", "%%") + fmt.Sprintf("%%0%dd.", k.Width) + k.Ext
}

// ID is the stable id of the sequence k in folder of volume: 32 lowercase
// hex characters (BLAKE3 of volume, folder, base, extension and padding).
func ID(volume, folder string, k Key) string {
	sum := blake3.Sum256([]byte(volume + "\x00" + folder + "\x00" + k.Base + "\x00" + k.Ext + "\x00" + strconv.Itoa(k.Width)))
	return hex.EncodeToString(sum[:16])
}

// ValidID reports whether id looks like a sequence id.
func ValidID(id string) bool {
	return len(id) == 32 && strings.Trim(id, "0123456789abcdef") == ""
}

// Range is an inclusive range of frame numbers.
type Range = wire.FrameRange

// Group sorts frames into sequences by (base, extension, padding): each
// group with at least minFrames frames is returned, its frames sorted by
// number (a number seen twice keeps the first name). Frames of smaller
// groups are not sequences.
func Group(frames []Frame, minFrames int) map[Key][]Frame {
	all := map[Key][]Frame{}
	for _, f := range frames {
		k := Key{f.Base, f.Ext, f.Width}
		all[k] = append(all[k], f)
	}
	for k, fs := range all {
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Number < fs[j].Number })
		out := fs[:0]
		for i, f := range fs {
			if i > 0 && f.Number == fs[i-1].Number {
				continue
			}
			out = append(out, f)
		}
		if len(out) < minFrames {
			delete(all, k)
			continue
		}
		all[k] = out
	}
	return all
}

// Missing returns the gaps in sorted, distinct frame numbers, at most max
// ranges, and the number of missing frames in all.
func Missing(frames []Frame, max int) ([]Range, int64) {
	var out []Range
	var n int64
	for i := 1; i < len(frames); i++ {
		a, b := frames[i-1].Number, frames[i].Number
		if b > a+1 {
			n += b - a - 1
			if len(out) < max {
				out = append(out, Range{First: a + 1, Last: b - 1})
			}
		}
	}
	return out, n
}
