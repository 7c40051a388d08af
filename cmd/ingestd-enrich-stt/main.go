// Command ingestd-enrich-stt is the speech-to-text enricher that ships with
// ingestd (analysis.enrichers, docs/api.md Enrichers): it reads the
// enricher request on stdin, decodes the proxy's first audio stream to
// 16 kHz mono with FFmpeg (file protocol only, demuxer forced), runs
// CMU PocketSphinx (pocketsphinx_continuous, Debian packages pocketsphinx
// and pocketsphinx-en-us) with word times, and answers with the words as
// data and transcript.vtt (WebVTT cues with per-word timestamps) as a file.
//
// Configure it as:
//
//	analysis:
//	  enrichers:
//	    - {name: transcript, command: [/usr/bin/ingestd-enrich-stt], timeout: 30m}
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/transcode"
)

// Word is one recognised word and its times in seconds.
type Word struct {
	Word  string  `json:"word"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Conf  float64 `json:"conf"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ingestd-enrich-stt:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var req analysis.EnrichRequest
	if err := json.NewDecoder(io.LimitReader(in, 64<<20)).Decode(&req); err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	if req.Version != analysis.EnrichVersion {
		return fmt.Errorf("request version %d, this enricher speaks %d", req.Version, analysis.EnrichVersion)
	}
	if req.Analysis != nil && !req.Analysis.Audio {
		return json.NewEncoder(out).Encode(map[string]any{"data": map[string]any{"words": []Word{}, "text": "", "note": "no audio"}})
	}
	ffmpeg, sphinx := envOr("INGESTD_FFMPEG", "ffmpeg"), envOr("INGESTD_POCKETSPHINX", "pocketsphinx_continuous")
	// The stage's 16 kHz mono WAV (request's audio); decoded here only
	// when run by hand on a request without one.
	wav := req.Audio
	if wav == "" {
		wav = filepath.Join(req.OutDir, "audio16k.wav")
		inArgs, err := transcode.InputArgs("mov", req.Proxy)
		if err != nil {
			return err
		}
		args := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, inArgs...)
		args = append(args, "-map", "0:a:0", "-af", analysis.WAVFilter, "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", "-f", "wav", transcode.Literal(wav))
		if b, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("decode audio: %w: %s", err, bytes.TrimSpace(b))
		}
		defer os.Remove(wav)
	}
	cmd := exec.Command(sphinx, "-infile", wav, "-time", "yes", "-logfn", "/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", sphinx, err, lastBytes(stderr.Bytes(), 2048))
	}
	words := parse(b)
	if err := os.WriteFile(filepath.Join(req.OutDir, "transcript.vtt"), []byte(webVTT(words)), 0o644); err != nil {
		return err
	}
	text := make([]string, len(words))
	for i, w := range words {
		text[i] = w.Word
	}
	return json.NewEncoder(out).Encode(map[string]any{
		"data": map[string]any{"engine": "pocketsphinx", "language": "en-us", "text": strings.Join(text, " "), "words": words,
			"segments": segments(words)},
		"files": []string{"transcript.vtt"},
	})
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// parse reads pocketsphinx_continuous -time yes output: per utterance a
// hypothesis line, then "word start end confidence" lines. Fillers (<s>,
// </s>, <sil>, [NOISE]…) are dropped, alternates "word(2)" named "word".
func parse(b []byte) []Word {
	words := []Word{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			continue
		}
		s, err1 := strconv.ParseFloat(f[1], 64)
		e, err2 := strconv.ParseFloat(f[2], 64)
		c, err3 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil || err3 != nil || e < s {
			continue
		}
		w := f[0]
		if strings.HasPrefix(w, "<") || strings.HasPrefix(w, "[") {
			continue
		}
		if i := strings.IndexByte(w, '('); i > 0 {
			w = w[:i]
		}
		words = append(words, Word{Word: w, Start: s, End: e, Conf: math.Round(c*1000) / 1000})
	}
	return words
}

// ts formats seconds as a WebVTT timestamp.
func ts(s float64) string {
	ms := int64(math.Round(s * 1000))
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// webVTT makes cues of up to 7 words (a new cue after a pause over 1 s),
// each word after the first preceded by its timestamp tag.
// cues groups words into cues: up to 7 words, no gap over 1 s.
func cues(words []Word) [][]Word {
	var cs [][]Word
	for i := 0; i < len(words); {
		j := i + 1
		for j < len(words) && j-i < 7 && words[j].Start-words[j-1].End <= 1 {
			j++
		}
		cs = append(cs, words[i:j])
		i = j
	}
	return cs
}

// Segment is one cue as a transcript segment of the enricher contract
// (docs/api.md Enrichers: data.segments).
type Segment struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
	Words []Word  `json:"words"`
}

func segments(words []Word) []Segment {
	ss := []Segment{}
	for _, c := range cues(words) {
		t := make([]string, len(c))
		for i, w := range c {
			t[i] = w.Word
		}
		ss = append(ss, Segment{Start: c[0].Start, End: c[len(c)-1].End, Text: strings.Join(t, " "), Words: c})
	}
	return ss
}

// cueText escapes a word for WebVTT cue text: '&', '<' and '>' as
// character references, so that a word cannot open a tag or, with "-->",
// end the cue's text (a dictionary or a wrapped recogniser may emit them).
var cueText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func webVTT(words []Word) string {
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	for _, c := range cues(words) {
		fmt.Fprintf(&b, "\n%s --> %s\n", ts(c[0].Start), ts(c[len(c)-1].End))
		for k, w := range c {
			if k > 0 {
				fmt.Fprintf(&b, " <%s>", ts(w.Start))
			}
			b.WriteString(cueText.Replace(w.Word))
		}
		b.WriteString("\n")
	}
	return b.String()
}
