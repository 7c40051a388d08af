package analysis

import (
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

// TestLoudnessNotMeasurable (red team, issue 14): ebur128 reports -70 LUFS
// when no 400 ms block is complete (a sting, one frame) or none is above
// the absolute gate (digital silence, a camera's mute track). The
// loudness check warns that it cannot be measured, instead of failing the
// asset 47 LU off the target; a measurable programme keeps its verdicts.
func TestLoudnessNotMeasurable(t *testing.T) {
	rules := testCfg().Rules
	for _, c := range []struct {
		name      string
		duration  float64
		integ     float64
		verdict   string
		reasonHas string
	}{
		{"0.3 s sting", 0.3, -70, Warn, "shorter than one 400 ms block"},
		{"silence", 3, -70, Warn, "silent"},
		{"quiet", 3, -40, Fail, "is 17.0 LU from the target"},
		{"a bit loud", 3, -21.5, Warn, "is 1.5 LU from the target"},
		{"on target", 3, -23.4, Pass, "target -23.0±1.0"},
	} {
		res := &Result{Duration: c.duration, Loudness: &storage.Loudness{Integrated: c.integ, TruePeak: -30}}
		check(res, input{audio: true}, rules)
		var got *storage.Check
		for i := range res.Checks {
			if res.Checks[i].Rule == "loudness" {
				got = &res.Checks[i]
			}
		}
		if got == nil || got.Verdict != c.verdict || !strings.Contains(got.Reason, c.reasonHas) {
			t.Errorf("%s: loudness check %+v, want %s with %q", c.name, got, c.verdict, c.reasonHas)
		}
	}
}

// TestMasterMonoTracksPaired (red team, issue 14): a master whose audio is
// several mono tracks (A1 left, A2 right, EBU R 123; MXF and camera
// masters) is measured as the stereo pair A1+A2, not as A1 alone (which
// reads 3 LU low for a centred programme and failed it); one stereo or
// 5.1 stream, or a lone mono track, is measured as it is.
func TestMasterMonoTracksPaired(t *testing.T) {
	svc := &Service{master: func(storage.AssetDoc) (string, error) { return "/vol/A001.mxf", nil }}
	mono := func(i int) storage.Stream { return storage.Stream{Index: i, Type: "audio", Channels: 1} }
	for _, c := range []struct {
		name    string
		streams []storage.Stream
		left    int
		right   int
	}{
		{"4 mono tracks", []storage.Stream{{Index: 0, Type: "video"}, mono(1), mono(2), mono(3), mono(4)}, 1, 2},
		{"one mono track", []storage.Stream{{Index: 0, Type: "video"}, mono(1)}, 1, 0},
		{"stereo then mono", []storage.Stream{{Index: 0, Type: "video"}, {Index: 1, Type: "audio", Channels: 2}, mono(2)}, 1, 0},
		{"5.1", []storage.Stream{{Index: 0, Type: "audio", Channels: 6, Layout: "5.1"}}, 0, 0},
	} {
		m := &storage.Media{Container: "mxf", Streams: c.streams}
		ma, note := svc.masterAudioOf(storage.AssetDoc{}, m)
		if ma == nil || ma.stream != c.left || ma.right != c.right {
			t.Errorf("%s: %+v (%s), want stream %d right %d", c.name, ma, note, c.left, c.right)
			continue
		}
		cmds, err := args(input{path: "/s/proxy.mp4", format: "mov", audio: true, master: ma}, 0.3, "/w")
		if err != nil {
			t.Fatal(err)
		}
		g := strings.Join(cmds[0], " ")
		join := strings.Contains(g, "join=inputs=2:channel_layout=stereo")
		if join != (c.right > 0) || (join && !strings.Contains(g, "[0:1][0:2]join")) {
			t.Errorf("%s: audio graph %q", c.name, g)
		}
		res := &Result{Duration: 5, Loudness: &storage.Loudness{Integrated: -23, TruePeak: -20}}
		check(res, input{audio: true, master: ma}, testCfg().Rules)
		if said := strings.Contains(res.Checks[1].Reason, "first two mono tracks as a stereo pair"); said != (c.right > 0) {
			t.Errorf("%s: loudness reason %q", c.name, res.Checks[1].Reason)
		}
	}
}
