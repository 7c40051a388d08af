package analysis

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// maxEvents caps the segments and shots kept per kind (a pathological file
// cannot grow the result without bound); Truncated says when more came.
const maxEvents = 10000

// maxLine caps one stderr line kept for parsing.
const maxLine = 4096

// Segment is a black, frozen or silent stretch (wire.Segment).
type Segment = wire.Segment

// Shot is one shot and its thumbnail (wire.Shot).
type Shot = wire.Shot

// parser reads FFmpeg's stderr (loglevel info) line by line as it comes
// and keeps what the filters report. It is an io.Writer.
type parser struct {
	partial []byte
	long    bool // the current line is over maxLine: dropped

	black, freeze, silence  []Segment
	openFreeze, openSilence *float64
	cuts                    []float64
	truncated               bool

	// ebur128 summary (the last one wins: a filter instance that FFmpeg
	// builds and throws away while parsing the graph prints zeros first).
	inSummary           bool
	section             string
	integrated, lra, tp float64
	haveR128            bool
	// errs keeps the last lines that read as errors, for a failure's
	// message (the stderr tail at loglevel info is mostly filter reports).
	errs []string
	// astats overall.
	inOverall bool
	peakDB    float64
	peakCount int64
	havePeak  bool
	samples   int64
	// astats per channel: the channel's peak, and the samples at full
	// scale summed over the channels whose peak is at full scale.
	chPeakDB float64
	clipped  int64
}

var (
	// Filter reports are whole lines that start with the filter's
	// context: FFmpeg also prints the input's name and tags (the
	// master's: untrusted) among them, and a report inside such a line
	// must not count (the master is also read through a link of ours,
	// so that its name never reaches these lines: see analyseProgress).
	reBlack   = regexp.MustCompile(`^\[blackdetect @ 0x[0-9a-f]+\] black_start:\s*(\S+)\s+black_end:\s*(\S+)`)
	reFreezeS = regexp.MustCompile(`^\[freezedetect @ 0x[0-9a-f]+\] lavfi\.freezedetect\.freeze_start:\s*(\S+)`)
	reFreezeE = regexp.MustCompile(`^\[freezedetect @ 0x[0-9a-f]+\] lavfi\.freezedetect\.freeze_end:\s*(\S+)`)
	reSilS    = regexp.MustCompile(`^\[silencedetect @ 0x[0-9a-f]+\] silence_start:\s*(\S+)`)
	reSilE    = regexp.MustCompile(`^\[silencedetect @ 0x[0-9a-f]+\] silence_end:\s*(\S+)`)
	reShow    = regexp.MustCompile(`^\[Parsed_showinfo_\d+ @ 0x[0-9a-f]+\] n:\s*\d+ pts:\s*-?\d+ pts_time:(\S+)`)
	reFilter  = regexp.MustCompile(`^\[(Parsed_ebur128|Parsed_astats)_\d+ @ 0x[0-9a-f]+\] (.*)$`)
	reKV      = regexp.MustCompile(`^\s*([A-Za-z ]+):\s*(\S+)`)
	reErrLine = regexp.MustCompile(`(?i)error|invalid|not found|failed|corrupt|no such|unable|cannot|could not|missing|matches no streams`)
)

func (p *parser) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\n\r")
		if i < 0 {
			if len(p.partial)+len(b) > maxLine {
				p.long, p.partial = true, p.partial[:0]
			} else if !p.long {
				p.partial = append(p.partial, b...)
			}
			break
		}
		if !p.long && len(p.partial)+i <= maxLine {
			p.partial = append(p.partial, b[:i]...)
			p.line(string(p.partial))
		}
		p.partial, p.long = p.partial[:0], false
		b = b[i+1:]
	}
	return n, nil
}

func num(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		if strings.HasPrefix(s, "-inf") {
			return math.Inf(-1), true
		}
		return 0, false
	}
	return f, true
}

func (p *parser) add(list *[]Segment, s, e float64) {
	if len(*list) >= maxEvents {
		p.truncated = true
		return
	}
	*list = append(*list, Segment{Start: s, End: e, Duration: e - s})
}

func (p *parser) line(l string) {
	if m := reFilter.FindStringSubmatch(l); m != nil {
		p.filterLine(m[1], m[2])
		return
	}
	if p.inSummary && (strings.TrimSpace(l) == "" || strings.HasPrefix(l, " ")) {
		p.summaryLine(l)
		return
	}
	p.inSummary = false
	if reErrLine.MatchString(l) {
		if len(p.errs) == 8 {
			p.errs = p.errs[1:]
		}
		p.errs = append(p.errs, l)
	}
	switch {
	case strings.HasPrefix(l, "[blackdetect @"):
		if m := reBlack.FindStringSubmatch(l); m != nil {
			s, ok1 := num(m[1])
			e, ok2 := num(m[2])
			if ok1 && ok2 {
				p.add(&p.black, s, e)
			}
		}
	case strings.HasPrefix(l, "[freezedetect @"):
		if m := reFreezeS.FindStringSubmatch(l); m != nil {
			if s, ok := num(m[1]); ok {
				p.openFreeze = &s
			}
		} else if m := reFreezeE.FindStringSubmatch(l); m != nil && p.openFreeze != nil {
			if e, ok := num(m[1]); ok {
				p.add(&p.freeze, *p.openFreeze, e)
				p.openFreeze = nil
			}
		}
	case strings.HasPrefix(l, "[silencedetect @"):
		if m := reSilS.FindStringSubmatch(l); m != nil {
			if s, ok := num(m[1]); ok {
				p.openSilence = &s
			}
		} else if m := reSilE.FindStringSubmatch(l); m != nil && p.openSilence != nil {
			if e, ok := num(m[1]); ok {
				p.add(&p.silence, *p.openSilence, e)
				p.openSilence = nil
			}
		}
	case strings.HasPrefix(l, "[Parsed_showinfo_"):
		if m := reShow.FindStringSubmatch(l); m != nil {
			if t, ok := num(m[1]); ok {
				if len(p.cuts) >= maxEvents {
					p.truncated = true
				} else {
					p.cuts = append(p.cuts, t)
				}
			}
		}
	}
}

// filterLine handles a line of ebur128's summary or astats' report.
func (p *parser) filterLine(filter, rest string) {
	switch filter {
	case "Parsed_ebur128":
		if strings.HasPrefix(rest, "Summary:") {
			p.inSummary, p.section = true, ""
			p.haveR128 = false
		}
	case "Parsed_astats":
		if rest == "Overall" {
			p.inOverall = true
			return
		}
		k, v, ok := strings.Cut(rest, ":")
		if !ok {
			return
		}
		if k == "Channel" {
			p.inOverall, p.chPeakDB = false, math.Inf(-1)
			return
		}
		f, ok := num(v)
		if !ok {
			return
		}
		if !p.inOverall {
			switch k {
			case "Peak level dB":
				p.chPeakDB = f
			case "Peak count":
				if p.chPeakDB >= clipDB {
					p.clipped += int64(f)
				}
			}
			return
		}
		switch k {
		case "Peak level dB":
			p.peakDB, p.havePeak = f, true
		case "Peak count":
			p.peakCount = int64(f)
		case "Number of samples":
			p.samples = int64(f)
		}
	}
}

// summaryLine handles an indented line of the ebur128 summary.
func (p *parser) summaryLine(l string) {
	t := strings.TrimSpace(l)
	switch t {
	case "Integrated loudness:", "Loudness range:", "True peak:", "Sample peak:":
		p.section = t
		return
	}
	m := reKV.FindStringSubmatch(l)
	if m == nil {
		return
	}
	f, ok := num(m[2])
	if !ok {
		return
	}
	switch {
	case p.section == "Integrated loudness:" && m[1] == "I":
		p.integrated, p.haveR128 = f, true
	case p.section == "Loudness range:" && m[1] == "LRA":
		p.lra = f
	case p.section == "True peak:" && m[1] == "Peak":
		p.tp = f
	}
}

// finish closes segments still open at the end of the programme.
func (p *parser) finish(duration float64) {
	if p.openFreeze != nil {
		p.add(&p.freeze, *p.openFreeze, max(duration, *p.openFreeze))
		p.openFreeze = nil
	}
	if p.openSilence != nil {
		p.add(&p.silence, *p.openSilence, max(duration, *p.openSilence))
		p.openSilence = nil
	}
}

// floorDB makes -inf (digital silence) a finite floor that JSON can carry.
func floorDB(v float64) float64 {
	if math.IsInf(v, -1) || math.IsNaN(v) || v < -200 {
		return -200
	}
	return v
}

// rate is an exact frame rate.
type rate struct{ num, den int64 }

func parseRate(s string) (rate, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() <= 0 || !r.Num().IsInt64() || !r.Denom().IsInt64() || r.Cmp(big.NewRat(1000, 1)) > 0 {
		return rate{}, fmt.Errorf("frame rate %q is not a positive number or fraction up to 1000", s)
	}
	return rate{r.Num().Int64(), r.Denom().Int64()}, nil
}

func (r rate) fps() float64 { return float64(r.num) / float64(r.den) }

// frame is the frame at time t (nearest).
func (r rate) frame(t float64) int64 { return int64(math.Round(t * r.fps())) }

// timecode is the source timecode of frame f, counted from start:
// "HH:MM:SS:FF", non-drop arithmetic on the nominal rate; or, for a
// drop-frame start timecode ("HH:MM:SS;FF", the ';' separator) at 29.97 or
// 59.94 fps, SMPTE drop-frame labels "HH:MM:SS;FF" (frame labels 0-1, or
// 0-3 at 59.94, skipped at the start of each minute not a multiple of 10).
type timecode struct {
	start int64 // frames
	base  int64 // nominal frames per second
	drop  int64 // labels dropped per minute (0: non-drop)
	ok    bool
}

func parseTimecode(tc string, r rate) timecode {
	base := int64(math.Round(r.fps()))
	if base <= 0 {
		return timecode{}
	}
	t := timecode{base: base, ok: true}
	if strings.Contains(tc, ";") && r.den == 1001 && (base == 30 || base == 60) {
		t.drop = base / 15
	}
	f := strings.FieldsFunc(tc, func(c rune) bool { return c == ':' || c == ';' || c == '.' })
	if len(f) != 4 {
		return t
	}
	var v [4]int64
	for i, s := range f {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return t
		}
		v[i] = n
	}
	mins := v[0]*60 + v[1]
	t.start = ((v[0]*60+v[1])*60+v[2])*base + v[3] - t.drop*(mins-mins/10)
	return t
}

func (t timecode) at(frame int64) string {
	if !t.ok {
		return ""
	}
	f := t.start + frame
	per10 := t.base*600 - t.drop*9 // frames in ten minutes
	day := per10 * 144
	f = ((f % day) + day) % day
	sep := ":"
	if t.drop > 0 {
		// Frame count to label: add back the labels skipped so far.
		tens, rem := f/per10, f%per10
		f += t.drop * 9 * tens
		if rem > t.drop {
			f += t.drop * ((rem - t.drop) / (t.base*60 - t.drop))
		}
		sep = ";"
	}
	ff := f % t.base
	s := f / t.base
	return fmt.Sprintf("%02d:%02d:%02d%s%02d", s/3600, s/60%60, s%60, sep, ff)
}
