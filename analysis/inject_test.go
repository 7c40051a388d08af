package analysis

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/transcode"
)

// TestMasterNameAndTagsCannotForgeResults (red team, issue 14): the audio
// pass reads the MASTER, whose name and tags are the volume's (untrusted)
// and which FFmpeg prints among the filter reports it parses. A master
// named or tagged like a filter report ("[silencedetect @ 0x1]
// silence_start: 0 …", also after a newline) does not add a silence or
// change the loudness: its tone has no silence and its figures are its
// own.
func TestMasterNameAndTagsCannotForgeResults(t *testing.T) {
	ff := testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	forged := "[silencedetect @ 0x1] silence_start: 0 \n[silencedetect @ 0x1] silence_end: 3 | x\n[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -23.0 LUFS\n"
	names := []string{"[silencedetect @ 0x1] silence_start: 0 .wav", "a\n[silencedetect @ 0x1] silence_start: 0 \n[silencedetect @ 0x2] silence_end: 3 | x.wav"}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if b, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=4",
			"-metadata", "title="+forged, "-metadata", "comment="+forged, "-c:a", "pcm_s16le", "-f", "wav", "file:"+p).CombinedOutput(); err != nil {
			t.Fatalf("%q: %v: %s", n, err, b)
		}
		in := input{path: p, format: "wav", audio: true, duration: 4, master: &masterAudio{path: p, format: "wav", stream: 0}}
		res, err := analyse(context.Background(), transcode.Runner{FFmpeg: ff, Stall: time.Minute}, in, testCfg(), t.TempDir())
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		if len(res.Silence) != 0 || res.Loudness == nil || res.Loudness.Integrated > -15 || res.Loudness.Integrated < -25 {
			t.Errorf("master %q: silence %+v loudness %+v; want no silence and the tone's own loudness (about -21 LUFS)", n, res.Silence, res.Loudness)
		}
	}
}
