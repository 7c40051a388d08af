package analysis

import (
	"fmt"
	"math"
	"strings"

	"github.com/ingestd/ingestd/storage"
)

// Verdicts.
const (
	Pass = "pass"
	Warn = "warn"
	Fail = "fail"
)

func longest(s []Segment) (float64, float64) {
	var d, at float64
	for _, x := range s {
		if x.Duration > d {
			d, at = x.Duration, x.Start
		}
	}
	return d, at
}

// check applies the rules to res (the master's frame rate and size come
// from in) and sets Checks and Verdict.
func check(res *Result, in input, r Rules) {
	var cs []storage.Check
	add := func(rule, v, f string, a ...any) {
		cs = append(cs, storage.Check{Rule: rule, Verdict: v, Reason: fmt.Sprintf(f, a...)})
	}
	seg := func(rule, what string, s []Segment, limit float64) {
		d, at := longest(s)
		if limit <= 0 {
			return
		}
		if d > limit {
			add(rule, Fail, "longest %s %.2fs (at %.2fs) is over %.2fs", what, d, at, limit)
		} else {
			add(rule, Pass, "longest %s %.2fs, limit %.2fs", what, d, limit)
		}
	}
	if in.video {
		seg("max_black", "black", res.Black, r.MaxBlack.Seconds())
		seg("max_freeze", "freeze", res.Freeze, r.MaxFreeze.Seconds())
	}
	if in.audio {
		seg("max_silence", "silence", res.Silence, r.MaxSilence.Seconds())
		if l := res.Loudness; l != nil && r.LoudnessTarget != nil {
			off := math.Abs(l.Integrated - *r.LoudnessTarget)
			tol := r.LoudnessTolerance
			of := ""
			if in.downmix {
				of = " (of the proxy's stereo downmix of a multichannel master)"
			}
			if in.master != nil && in.master.right > 0 {
				of = " (of the master's first two mono tracks as a stereo pair)"
			}
			switch {
			case res.Duration > 0 && res.Duration < 0.4:
				// ebur128 reports -70 LUFS when no 400 ms block is complete.
				add("loudness", Warn, "programme of %.2fs is shorter than one 400 ms block: integrated loudness not measurable", res.Duration)
			case l.Integrated <= -70:
				add("loudness", Warn, "silent%s: no 400 ms block above the -70 LUFS gate, integrated loudness not measurable", of)
			case off > 2*tol:
				add("loudness", Fail, "integrated %.1f LUFS%s is %.1f LU from the target %.1f (tolerance %.1f)", l.Integrated, of, off, *r.LoudnessTarget, tol)
			case off > tol:
				add("loudness", Warn, "integrated %.1f LUFS%s is %.1f LU from the target %.1f (tolerance %.1f)", l.Integrated, of, off, *r.LoudnessTarget, tol)
			default:
				add("loudness", Pass, "integrated %.1f LUFS%s, target %.1f±%.1f", l.Integrated, of, *r.LoudnessTarget, tol)
			}
		}
		if l := res.Loudness; l != nil && r.MaxTruePeak != nil {
			if l.TruePeak > *r.MaxTruePeak {
				add("max_true_peak", Fail, "true peak %.1f dBTP is over %.1f", l.TruePeak, *r.MaxTruePeak)
			} else {
				add("max_true_peak", Pass, "true peak %.1f dBTP, limit %.1f", l.TruePeak, *r.MaxTruePeak)
			}
		}
		if l := res.Loudness; l != nil {
			if l.ClippedSamples > 0 {
				add("clipping", Fail, "%d samples at full scale", l.ClippedSamples)
			} else {
				add("clipping", Pass, "no sample at full scale (peak %.1f dBFS)", l.SamplePeak)
			}
		}
	} else {
		add("audio", Warn, "no audio stream")
	}
	if r.MinDuration > 0 {
		if res.Duration < r.MinDuration.Seconds() {
			add("min_duration", Fail, "duration %.2fs is under %.2fs", res.Duration, r.MinDuration.Seconds())
		} else {
			add("min_duration", Pass, "duration %.2fs, minimum %.2fs", res.Duration, r.MinDuration.Seconds())
		}
	}
	if r.FrameRate != "" && in.video {
		got, err := parseRate(in.frameRate)
		switch {
		case in.vfr:
			add("frame_rate", Warn, "variable frame rate (average %s), expected %s", in.frameRate, r.FrameRate)
		case err != nil || !sameRate(r.FrameRate, got):
			add("frame_rate", Warn, "frame rate %s, expected %s", in.frameRate, r.FrameRate)
		default:
			add("frame_rate", Pass, "frame rate %s", in.frameRate)
		}
	}
	if (r.Width > 0 || r.Height > 0) && in.video {
		if (r.Width > 0 && in.width != r.Width) || (r.Height > 0 && in.height != r.Height) {
			add("resolution", Warn, "%dx%d, expected %dx%d", in.width, in.height, r.Width, r.Height)
		} else {
			add("resolution", Pass, "%dx%d", in.width, in.height)
		}
	}
	res.Checks, res.Verdict = cs, Pass
	for _, c := range cs {
		if c.Verdict == Fail {
			res.Verdict = Fail
		} else if c.Verdict == Warn && res.Verdict == Pass {
			res.Verdict = Warn
		}
	}
}

// sameRate reports whether got is the configured rate want: exactly for
// a whole number or a fraction ("25" is not 25000/1001); for a decimal,
// to the digits given ("23.976" and "23.98" are 24000/1001, "29.97" is
// 30000/1001, "23.97" is not).
func sameRate(want string, got rate) bool {
	w, err := parseRate(want)
	if err != nil {
		return false
	}
	if got.num*w.den == w.num*got.den {
		return true
	}
	_, frac, ok := strings.Cut(strings.TrimSpace(want), ".")
	if !ok || strings.Contains(want, "/") {
		return false
	}
	return math.Abs(got.fps()-w.fps()) < 0.5*math.Pow(10, -float64(len(frac)))
}
