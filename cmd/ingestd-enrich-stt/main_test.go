package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/internal/testenv"
)

// TestTranscribesSynthesisedSpeech: numbers spoken by espeak-ng after one
// second of silence, in an AAC proxy.m4a, come back as words with times
// (the first after the silence, in order, within the clip) and as a WebVTT
// file with per-word timestamps.
func TestTranscribesSynthesisedSpeech(t *testing.T) {
	ff := testenv.Need(t, "ffmpeg")
	espeak := testenv.Need(t, "espeak-ng")
	testenv.Need(t, "pocketsphinx_continuous")
	dir := t.TempDir()
	speech := filepath.Join(dir, "speech.wav")
	if b, err := exec.Command(espeak, "-s", "120", "-w", speech, "one two three four five six seven eight nine ten").CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, b)
	}
	proxy := filepath.Join(dir, "proxy.m4a")
	if b, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=1",
		"-i", speech, "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1[a]", "-map", "[a]", "-c:a", "aac", "-ar", "48000", "-ac", "2", proxy).CombinedOutput(); err != nil {
		t.Fatalf("proxy: %v: %s", err, b)
	}
	resp := transcribe(t, proxy, dir, 6)
	w := resp.Data.Words
	t.Logf("heard: %q", resp.Data.Text)
	if len(w) < 4 || len(resp.Files) != 1 || resp.Files[0] != "transcript.vtt" {
		t.Fatalf("response: %+v", resp)
	}
	if w[0].Start < 0.8 {
		t.Errorf("first word at %.2fs, inside the leading second of silence", w[0].Start)
	}
	// (Digits spoken alone are this recogniser's worst case: reported
	// only; TestWordErrorRate bounds a sentence.)
	t.Logf("word error rate %.2f (spoken: one … ten; heard: %q)",
		wer(strings.Fields("one two three four five six seven eight nine ten"), strings.Fields(resp.Data.Text)), resp.Data.Text)
	numbers := regexp.MustCompile(`\b(one|won|two|to|too|three|four|for|five|six|seven|eight|nine|ten)\b`)
	if !numbers.MatchString(resp.Data.Text) {
		t.Errorf("no spoken number recognised in %q", resp.Data.Text)
	}
	for i := range w {
		if w[i].End < w[i].Start || w[i].End > 8 || (i > 0 && w[i].Start < w[i-1].Start) {
			t.Errorf("word %d %+v out of order or past the clip", i, w[i])
		}
	}
	vtt, err := exec.Command("cat", filepath.Join(dir, "transcript.vtt")).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := string(vtt)
	if !strings.HasPrefix(s, "WEBVTT\n\n") || !regexp.MustCompile(`\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n`).MatchString(s) ||
		!regexp.MustCompile(`<\d\d:\d\d:\d\d\.\d{3}>`).MatchString(s) {
		t.Errorf("transcript.vtt:\n%s", s)
	}
}

// wer is the word error rate of hyp against ref: the word-level edit
// distance (substitutions, insertions, deletions) over len(ref).
func wer(ref, hyp []string) float64 {
	if len(ref) == 0 {
		return 0
	}
	prev := make([]int, len(hyp)+1)
	cur := make([]int, len(hyp)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ref); i++ {
		cur[0] = i
		for j := 1; j <= len(hyp); j++ {
			sub := prev[j-1]
			if !strings.EqualFold(ref[i-1], hyp[j-1]) {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(hyp)]) / float64(len(ref))
}

// werCases are the conditions TestWordErrorRate measures, each bounded by
// what was measured here on 2026-11-30 (Debian 12's pocketsphinx and
// pocketsphinx-en-us 0.8+5prealpha, espeak-ng 1.51; the same on every
// run: both are deterministic) plus a
// margin for other builds of the Debian packages. A studio that needs
// better plugs in whisper.cpp (docs/api.md, Enrichers).
var werCases = []struct {
	name  string
	voice string
	speed int
	lead  float64 // seconds of silence before the speech
	music bool    // two tones 24 dB under the speech, from its start
	bound float64
}{
	// Measured 0.59 (0.50 and 0.70).
	{"en-us 120 wpm", "en-us", 120, 0, false, 0.70},
	// Another voice, faster: measured 0.86 (1.00 and 0.70).
	{"en-gb 160 wpm", "en-gb", 160, 0, false, 0.95},
	// After 3 s of silence: measured 0.68 (0.58 and 0.80); no word in
	// the silence.
	{"en-us 120 wpm after 3 s of silence", "en-us", 120, 3, false, 0.80},
	// Two tones 24 dB under the speech: measured 0.68 (0.17 and 1.30).
	{"en-us 120 wpm with music under", "en-us", 120, 0, true, 0.80},
}

// TestWordErrorRate: known sentences synthesised by espeak-ng, in each
// condition of werCases (voices, rates, leading silence, music under the
// speech), through an AAC proxy as the daemon makes them, transcribed by
// the enricher; the word error rate of each condition is reported and
// bounded by what was measured here plus a margin.
func TestWordErrorRate(t *testing.T) {
	ff := testenv.Need(t, "ffmpeg")
	espeak := testenv.Need(t, "espeak-ng")
	testenv.Need(t, "pocketsphinx_continuous")
	sentences := []string{
		"we are going to the studio today to record the new show",
		"please check the camera and the sound before we start",
	}
	for _, c := range werCases {
		var errs, words float64
		for _, sentence := range sentences {
			dir := t.TempDir()
			speech := filepath.Join(dir, "speech.wav")
			if b, err := exec.Command(espeak, "-v", c.voice, "-s", fmt.Sprint(c.speed), "-w", speech, sentence).CombinedOutput(); err != nil {
				t.Fatalf("espeak-ng: %v: %s", err, b)
			}
			proxy := filepath.Join(dir, "proxy.m4a")
			args := []string{"-hide_banner", "-loglevel", "error", "-y", "-i", speech}
			graph := "[0:a]aresample=48000"
			if c.lead > 0 {
				graph += fmt.Sprintf(",adelay=%d:all=1", int(c.lead*1000))
			}
			if c.music {
				args = append(args, "-f", "lavfi", "-i", "sine=f=220:r=48000:d=60", "-f", "lavfi", "-i", "sine=f=330:r=48000:d=60")
				graph += "[s];[1:a][2:a]amix=inputs=2,volume=-24dB[m];[s][m]amix=inputs=2:duration=first:normalize=0"
			}
			args = append(args, "-filter_complex", graph+"[a]", "-map", "[a]", "-c:a", "aac", "-ar", "48000", "-ac", "2", proxy)
			if b, err := exec.Command(ff, args...).CombinedOutput(); err != nil {
				t.Fatalf("proxy: %v: %s", err, b)
			}
			resp := transcribe(t, proxy, dir, 5+c.lead)
			if ws := resp.Data.Words; c.lead > 0 && len(ws) > 0 && ws[0].Start < c.lead-0.1 {
				t.Errorf("%s: first word %+v inside the leading %gs of silence", c.name, ws[0], c.lead)
			}
			ref := strings.Fields(sentence)
			rate := wer(ref, strings.Fields(resp.Data.Text))
			t.Logf("%s: WER %.2f: spoken %q, heard %q", c.name, rate, sentence, resp.Data.Text)
			errs += rate * float64(len(ref))
			words += float64(len(ref))
		}
		total := errs / words
		t.Logf("%s: word error rate over %d sentences: %.2f (bound %.2f)", c.name, len(sentences), total, c.bound)
		if total > c.bound {
			t.Errorf("%s: word error rate %.2f above the measured bound %.2f", c.name, total, c.bound)
		}
	}
}

// sttResponse is the enricher's answer, as the tests read it.
type sttResponse struct {
	Data struct {
		Text  string `json:"text"`
		Words []Word `json:"words"`
	} `json:"data"`
	Files []string `json:"files"`
}

// transcribe runs the enricher on an audio proxy with out_dir dir (no
// stage WAV: it decodes the proxy itself) and returns its answer.
func transcribe(t *testing.T, proxy, dir string, duration float64) sttResponse {
	t.Helper()
	in, _ := json.Marshal(analysis.EnrichRequest{Version: analysis.EnrichVersion, AssetID: "x", Kind: "audio", Proxy: proxy, OutDir: dir,
		Duration: duration, Analysis: &analysis.Result{Audio: true}})
	var out bytes.Buffer
	if err := run(bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	var resp sttResponse
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		t.Fatalf("response %s: %v", out.Bytes(), err)
	}
	return resp
}

func TestWER(t *testing.T) {
	for _, tc := range []struct {
		ref, hyp string
		want     float64
	}{
		{"one two three", "one two three", 0},
		{"one two three", "won two three", 1.0 / 3},
		{"one two three", "one three", 1.0 / 3},
		{"one two three", "one two two three", 1.0 / 3},
		{"one two", "", 1},
	} {
		if got := wer(strings.Fields(tc.ref), strings.Fields(tc.hyp)); got != tc.want {
			t.Errorf("wer(%q, %q) = %v, want %v", tc.ref, tc.hyp, got, tc.want)
		}
	}
}

func TestWebVTTAndParse(t *testing.T) {
	w := parse([]byte("hello world\n<s> 0.000 0.300 1.0\nhello 0.31 0.60 0.9\n<sil> 0.6 0.7 1\nworld(2) 0.71 1.00 0.5\n[NOISE] 1.0 1.2 1\nlater 3.5 3.9 0.8\ngarbage line\n"))
	if len(w) != 3 || w[1].Word != "world" || w[2].Start != 3.5 {
		t.Fatalf("parse: %+v", w)
	}
	want := "WEBVTT\n\n00:00:00.310 --> 00:00:01.000\nhello <00:00:00.710>world\n\n00:00:03.500 --> 00:00:03.900\nlater\n"
	if got := webVTT(w); got != want {
		t.Errorf("webVTT:\n%s\nwant:\n%s", got, want)
	}
	// The same cues as the contract's transcript segments with word times.
	ss := segments(w)
	if len(ss) != 2 || ss[0].Text != "hello world" || ss[0].Start != 0.31 || ss[0].End != 1 || len(ss[0].Words) != 2 ||
		ss[1].Text != "later" || ss[1].Start != 3.5 || ss[1].Words[0].End != 3.9 {
		t.Errorf("segments: %+v", ss)
	}
}

// TestWebVTTEscapesCueText (red team): a word holding '<', '&' or "-->"
// (a custom dictionary, a wrapped recogniser) cannot open a tag or end
// the cue text: each is a character reference in transcript.vtt, and
// every cue is a timing line followed by one line of text.
func TestWebVTTEscapesCueText(t *testing.T) {
	w := []Word{{Word: "a-->b", Start: 0, End: 0.5}, {Word: "<script>", Start: 0.6, End: 1}, {Word: "at&t", Start: 1.1, End: 1.4}}
	got := webVTT(w)
	want := "WEBVTT\n\n00:00:00.000 --> 00:00:01.400\na--&gt;b <00:00:00.600>&lt;script&gt; <00:00:01.100>at&amp;t\n"
	if got != want {
		t.Errorf("webVTT:\n%s\nwant:\n%s", got, want)
	}
	if n := strings.Count(got, "-->"); n != 1 {
		t.Errorf("%d '-->' in %q, want only the timing line's", n, got)
	}
}
