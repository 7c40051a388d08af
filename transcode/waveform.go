package transcode

import (
	"encoding/binary"
	"math"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// Waveform is waveform.json, the served document (daemon/api/wire).
type Waveform = wire.Waveform

// maxPeaks bounds the JSON size of long recordings.
const maxPeaks = 4000

// samplesPerPeak picks the peak width for a recording of duration seconds:
// at least 256 sample frames, at most maxPeaks peaks.
func samplesPerPeak(duration float64, rate int) int {
	n := int(math.Ceil(duration * float64(rate) / maxPeaks))
	if n < 256 {
		n = 256
	}
	return n
}

// peakWriter turns interleaved s16le PCM written to it into peaks.
type peakWriter struct {
	w        *Waveform
	channels int
	spp      int
	n        int // sample frames in the current peak
	min, max []int16
	rest     []byte
}

func newPeakWriter(rate, channels, spp int) *peakWriter {
	pw := &peakWriter{
		w:        &Waveform{Version: 1, SampleRate: rate, SamplesPerPeak: spp, Channels: channels, Bits: 16},
		channels: channels, spp: spp,
		min: make([]int16, channels), max: make([]int16, channels),
	}
	pw.reset()
	return pw
}

func (p *peakWriter) reset() {
	for c := range p.min {
		p.min[c], p.max[c] = math.MaxInt16, math.MinInt16
	}
	p.n = 0
}

func (p *peakWriter) flush() {
	if p.n == 0 {
		return
	}
	for c := 0; c < p.channels; c++ {
		p.w.Peaks = append(p.w.Peaks, p.min[c], p.max[c])
	}
	p.w.Length++
	p.reset()
}

func (p *peakWriter) Write(b []byte) (int, error) {
	n := len(b)
	frame := 2 * p.channels
	if len(p.rest) > 0 {
		b = append(p.rest, b...)
		p.rest = nil
	}
	for len(b) >= frame {
		for c := 0; c < p.channels; c++ {
			v := int16(binary.LittleEndian.Uint16(b[2*c:]))
			if v < p.min[c] {
				p.min[c] = v
			}
			if v > p.max[c] {
				p.max[c] = v
			}
		}
		b = b[frame:]
		p.n++
		if p.n == p.spp {
			p.flush()
		}
	}
	if len(b) > 0 {
		p.rest = append([]byte(nil), b...)
	}
	return n, nil
}

// Result flushes the last partial peak and returns the waveform.
func (p *peakWriter) Result() *Waveform {
	p.flush()
	if p.w.Peaks == nil {
		p.w.Peaks = []int16{}
	}
	return p.w
}
