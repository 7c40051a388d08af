package cardsvc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
)

// The concat lists ingestd writes name each part as a literal file and
// restrict it to the file protocol and the part's own demuxer; the FFmpeg
// input that reads a list allows only the file protocol.
func TestClipConcatListRestricted(t *testing.T) {
	dir := t.TempDir()
	lst := filepath.Join(dir, "l.txt")
	if err := writeConcatList(lst, []string{"/state/media/ab/x/proxy.mp4", "/card/it's:odd.MXF"}, "mxf"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(lst)
	if err != nil {
		t.Fatal(err)
	}
	want := "ffconcat version 1.0\n" +
		"file 'file:/state/media/ab/x/proxy.mp4'\noption format_whitelist mxf\noption protocol_whitelist file\n" +
		"file 'file:/card/it'\\''s:odd.MXF'\noption format_whitelist mxf\noption protocol_whitelist file\n"
	if string(b) != want {
		t.Errorf("list:\n%s\nwant:\n%s", b, want)
	}
	if err := writeConcatList(lst, []string{"/card/a\nfile '/etc/passwd'"}, "mxf"); err == nil {
		t.Error("a file name with a newline was written into a concat list")
	}
	for _, c := range []struct{ format string }{{"mov"}, {"mxf"}} {
		args := strings.Join(concatInput(lst, c.format), " ")
		if args != "-protocol_whitelist file -format_whitelist concat,"+c.format+" -f concat -safe 0 -i file:"+lst {
			t.Errorf("concat input %s", args)
		}
	}
}

// A separate-audio "MXF" on a card that is really an HLS playlist naming a
// file outside every volume is refused by the part's demuxer whitelist: no
// clip proxy carries the outside file.
func TestCutClipProxyRefusesPlaylistPart(t *testing.T) {
	ffmpeg, ffprobe := testenv.Need(t, "ffmpeg"), testenv.Need(t, "ffprobe")
	outside := makeChapters(t, ffmpeg, t.TempDir())[0]
	parts := makeChapters(t, ffmpeg, t.TempDir())[:1]
	card := t.TempDir()
	evil := filepath.Join(card, "A001C00100.MXF")
	if err := os.WriteFile(evil, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n"+outside+"\n#EXT-X-ENDLIST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := ClipProxyPath(t.TempDir(), clipID("card", "A001C001"))
	_, err := CutClipProxy(context.Background(), ffmpeg, ffprobe, ClipSources{Video: parts, Audio: [][]string{{evil}}}, dst)
	if err == nil {
		t.Fatal("clip proxy cut with a playlist as separate audio")
	}
	if !strings.Contains(err.Error(), "not on whitelist") {
		t.Errorf("error %v, want FFmpeg's format whitelist refusal", err)
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("clip proxy written: %v", serr)
	}
}
