package cardsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/transcode"
)

// ClipProxyPath is where the proxy of a whole multi-part clip lives:
// <state_dir>/clips/<clip id>/proxy.mp4.
func ClipProxyPath(stateDir, clipID string) string {
	return filepath.Join(stateDir, "clips", clipID, "proxy.mp4")
}

// ClipSources is what the proxy of a whole clip is cut from.
type ClipSources struct {
	// Video lists the per-part proxies in play order. Transcode cut them
	// with the same parameters and a closed GOP, so they are stream-copied.
	Video []string
	// Audio is separate audio essence (Panasonic P2 keeps one mono MXF per
	// channel beside a video-only MXF): per channel, the master of each
	// span in play order. Empty: the parts' own audio is stream-copied.
	Audio [][]string
	// Timecode is the clip's start timecode, written as the tmcd track
	// ("" keeps the first part's).
	Timecode string
	// AudioBitrate is the AAC bitrate for mixed separate audio (default 160k).
	AudioBitrate string
	// ChannelTracks adds each separate audio channel after the mix as a
	// mono AAC track named "A<n> (ch <n>)" (as transcode's
	// proxy.source_audio does for a source's own channels), when there are
	// two or more.
	ChannelTracks bool
}

// CutClipProxy cuts the proxy of a whole clip with FFmpeg's concat
// demuxer: the video of the part proxies is stream-copied in order, and
// separate audio channels, when there are any, are concatenated per
// channel, mixed to 48 kHz stereo (odd channels left, even right, mono to
// both, like transcode's mix) and encoded to AAC. It writes a temp file
// next to out, checks with ffprobe that its video frame count is the sum of
// the parts' and that the audio covers the video within a frame, and
// renames it into place. It returns that frame count. FFmpeg runs under
// transcode's Runner (own process group, killed as a group, a stall
// watchdog of clipProxyStall).
func CutClipProxy(ctx context.Context, ffmpeg, ffprobe string, src ClipSources, out string) (int64, error) {
	return cutClipProxy(ctx, &transcode.Runner{FFmpeg: ffmpeg, Stall: clipProxyStall}, ffprobe, src, out)
}

// clipProxyStall is the stall watchdog of a clip proxy cut outside the
// transcode lanes (CutClipProxy); on a lane it is proxy.stall_timeout.
const clipProxyStall = 2 * time.Minute

// cutClipProxy is CutClipProxy with FFmpeg run by r.
func cutClipProxy(ctx context.Context, r *transcode.Runner, ffprobe string, src ClipSources, out string) (int64, error) {
	if len(src.Video) == 0 {
		return 0, fmt.Errorf("clip proxy: no video parts")
	}
	var want int64
	for _, p := range src.Video {
		n, err := countFrames(ctx, ffprobe, p)
		if err != nil {
			return 0, err
		}
		want += n
	}
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var args []string // after the Runner's own (-hide_banner -nostdin -y, progress)
	lists := [][]string{src.Video}
	lists = append(lists, src.Audio...)
	for i, files := range lists {
		if len(files) == 0 {
			return 0, fmt.Errorf("clip proxy: audio channel %d has no files", i)
		}
		lst := filepath.Join(dir, fmt.Sprintf(".parts%d.txt", i))
		// Part proxies are ingestd's own MP4s; separate audio is P2 MXF.
		format := "mov"
		if i > 0 {
			format = "mxf"
		}
		if err := writeConcatList(lst, files, format); err != nil {
			return 0, err
		}
		defer os.Remove(lst)
		args = append(args, concatInput(lst, format)...)
	}
	args = append(args, "-map", "0:v:0", "-c:v", "copy")
	if n := len(src.Audio); n == 0 {
		args = append(args, "-map", "0:a?", "-c:a", "copy")
	} else {
		br := src.AudioBitrate
		if br == "" {
			br = "160k"
		}
		args = append(args, "-filter_complex", separateAudioMix(n), "-map", "[aout]",
			"-c:a", "aac", "-b:a:0", br, "-ar", "48000", "-ac:a:0", "2")
		if src.ChannelTracks && n >= 2 {
			args = append(args, "-metadata:s:a:0", "handler_name=Mix")
			for i := 1; i <= n; i++ {
				a := strconv.Itoa(i)
				args = append(args, "-map", a+":a:0", "-b:a:"+a, "96k", "-ac:a:"+a, "1",
					"-metadata:s:a:"+a, fmt.Sprintf("handler_name=A%d (ch %d)", i, i), "-disposition:a:"+a, "0")
			}
			args = append(args, "-disposition:a:0", "default")
		}
	}
	if src.Timecode != "" {
		args = append(args, "-timecode", src.Timecode)
	}
	tmp := filepath.Join(dir, ".proxy.tmp.mp4")
	defer os.Remove(tmp)
	args = append(args, "-movflags", "+faststart", "-f", "mp4", tmp)
	if err := r.Run(ctx, args, nil, nil); err != nil {
		return 0, fmt.Errorf("clip proxy: ffmpeg concat: %w", err)
	}
	m, _, err := transcode.Probe(ctx, ffprobe, tmp)
	if err != nil {
		return 0, fmt.Errorf("clip proxy: %w", err)
	}
	got, err := countFrames(ctx, ffprobe, tmp)
	if err != nil {
		return 0, err
	}
	if got != want {
		return 0, fmt.Errorf("clip proxy: %d frames, parts have %d", got, want)
	}
	if len(src.Audio) > 0 {
		if err := audioCoversVideo(m); err != nil {
			return 0, fmt.Errorf("clip proxy: %w", err)
		}
		want := 1
		if src.ChannelTracks && len(src.Audio) >= 2 {
			want += len(src.Audio)
		}
		n := 0
		for _, st := range m.Streams {
			if st.Type == "audio" {
				n++
			}
		}
		if n != want {
			return 0, fmt.Errorf("clip proxy: %d audio tracks, want %d", n, want)
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	return got, nil
}

// separateAudioMix mixes n single-channel inputs (inputs 1..n) to stereo.
func separateAudioMix(n int) string {
	if n == 1 {
		return "[1:a]pan=stereo|c0=c0|c1=c0,aresample=48000[aout]"
	}
	var in, l, r []string
	for i := 0; i < n; i++ {
		in = append(in, fmt.Sprintf("[%d:a]", i+1))
		if i%2 == 0 {
			l = append(l, "c"+strconv.Itoa(i))
		} else {
			r = append(r, "c"+strconv.Itoa(i))
		}
	}
	return fmt.Sprintf("%samerge=inputs=%d,pan=stereo|c0<%s|c1<%s,aresample=48000[aout]",
		strings.Join(in, ""), n, strings.Join(l, "+"), strings.Join(r, "+"))
}

// audioCoversVideo checks that a proxy has an audio stream as long as its
// video, within one frame (plus AAC's 1024-sample granularity).
func audioCoversVideo(m *storage.Media) error {
	var v, a *storage.Stream
	for i := range m.Streams {
		s := &m.Streams[i]
		switch {
		case s.Type == "video" && v == nil:
			v = s
		case s.Type == "audio" && a == nil:
			a = s
		}
	}
	if v == nil || a == nil {
		return fmt.Errorf("no audio track")
	}
	tol := 0.05
	if r, ok := ratFloat(v.FrameRate); ok && r > 0 {
		tol = 1/r + 1024.0/48000
	}
	if d := a.Duration - v.Duration; d < -tol || d > tol {
		return fmt.Errorf("audio %.3f s, video %.3f s", a.Duration, v.Duration)
	}
	return nil
}

func ratFloat(s string) (float64, bool) {
	num, den, ok := strings.Cut(s, "/")
	n, err1 := strconv.ParseFloat(num, 64)
	d := 1.0
	var err2 error
	if ok {
		d, err2 = strconv.ParseFloat(den, 64)
	}
	if err1 != nil || err2 != nil || d == 0 {
		return 0, false
	}
	return n / d, true
}

// concatInput is the input part of the FFmpeg command for a concat list
// that ingestd wrote (writeConcatList). The concat demuxer is the only
// demuxer here that opens other files, and only because ingestd names
// them: -safe 0 is needed for the absolute paths of its own list, the file
// protocol is the only one allowed (the parts inherit the whitelists), and
// each part may only be opened with the demuxer its list names.
func concatInput(lst, format string) []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", "concat," + format,
		"-f", "concat", "-safe", "0", "-i", transcode.Literal(lst)}
}

// writeConcatList writes an ffconcat list of files (absolute paths that
// ingestd chose: part proxies under state_dir/media, masters under a
// volume root), each named as a literal file (file:) and opened only with
// demuxer format and the file protocol.
func writeConcatList(lst string, files []string, format string) error {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for _, p := range files {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if strings.ContainsAny(abs, "\n\r") {
			return fmt.Errorf("clip proxy: unusable file name %q", abs)
		}
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(transcode.Literal(abs), "'", `'\''`))
		fmt.Fprintf(&b, "option format_whitelist %s\noption protocol_whitelist file\n", format)
	}
	return os.WriteFile(lst, []byte(b.String()), 0o644)
}

// countFrames counts the video packets of path's first video stream (an
// MP4 that ingestd wrote).
func countFrames(ctx context.Context, ffprobe, path string) (int64, error) {
	in, err := transcode.InputArgs("mov", path)
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, ffprobe, append([]string{"-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"}, in...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: %w: %s", path, err, tail(stderr.String(), 300))
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimRight(string(b), ",\n")), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: frame count %q", path, b)
	}
	return n, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// ClipProxyHandler serves GET and HEAD /v1/clips/{id}/proxy from
// state_dir/clips with Range, ETag and If-None-Match (http.ServeContent).
func ClipProxyHandler(stateDir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/clips/{id}/proxy", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !ValidClipID(id) {
			api.WriteError(w, http.StatusBadRequest, "id must be 32 lowercase hex characters", "id")
			return
		}
		f, err := os.Open(ClipProxyPath(stateDir, id))
		if err != nil {
			api.WriteError(w, http.StatusNotFound, "no proxy for clip "+id, "id")
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			api.WriteError(w, http.StatusNotFound, "no proxy for clip "+id, "id")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "video/mp4")
		// Replaced only by rename, so size+mtime names a version.
		h.Set("ETag", fmt.Sprintf(`"clip-%x-%x"`, fi.Size(), fi.ModTime().UnixNano()))
		h.Set("Cache-Control", "private, max-age=60")
		h.Set("X-Content-Type-Options", "nosniff")
		api.ServeContent(w, r, "proxy.mp4", fi.ModTime(), f)
	})
	return mux
}

// EvClipProxyReady is appended when the proxy of a whole multi-part clip is
// in place; Path is the clip id, Detail the clip proxy JSON (ClipProxy).
const EvClipProxyReady = "clip.proxy_ready"

// ClipProxy is the state of a multi-part clip's whole-clip proxy.
type ClipProxy = storage.ClipProxy

type clipProxyConfig struct {
	stateDir, ffmpeg, ffprobe, audioBitrate string
	channelTracks                           bool
	lane                                    LaneRunner
}

// LaneRunner runs fn as a job of the transcode stage's CPU lane
// ((*transcode.Service).RunOnLane): it waits its turn behind queued
// proxies, takes one of the lane's workers, and fn's Runner carries the
// stage's stall watchdog.
type LaneRunner func(ctx context.Context, name string, fn func(ctx context.Context, r *transcode.Runner) error) error

// SetClipProxyLane makes whole-clip proxies transcode lane jobs (call
// after SetClipProxy, before Run). Without it they are cut on the card
// service's goroutine (CutClipProxy).
func (s *Service) SetClipProxyLane(run LaneRunner) {
	if s.clipProxy != nil {
		s.clipProxy.lane = run
	}
}

// SetClipProxy enables whole-clip proxies: once every video part's proxy
// is ready, a clip of several video parts (chapters, spans) or with
// separate audio essence (P2) gets <state_dir>/clips/<clip id>/proxy.mp4.
// audioBitrate is the AAC bitrate of mixed separate audio ("" for 160k);
// channelTracks keeps each separate channel as a track of its own after
// the mix (ClipSources.ChannelTracks). Call before Run.
func (s *Service) SetClipProxy(stateDir, ffmpeg, ffprobe, audioBitrate string, channelTracks bool) {
	s.clipProxy = &clipProxyConfig{stateDir: stateDir, ffmpeg: ffmpeg, ffprobe: ffprobe, audioBitrate: audioBitrate, channelTracks: channelTracks}
}

func clipOfKey(assetID string) string { return "cards/clipof/" + assetID }

// needsClipProxy reports whether a clip gets a whole-clip proxy: the
// per-part proxies alone would not show the whole clip (several video
// parts) or would be silent (audio in separate files).
func needsClipProxy(doc ClipDoc) bool {
	var v, a int
	for _, p := range doc.Parts {
		switch p.Role {
		case "video":
			v++
		case "audio":
			a++
		}
	}
	return v >= 2 || (v >= 1 && a >= 1)
}

// indexClipParts remembers which clip each video part belongs to, for the
// clips that get a whole-clip proxy.
func (s *Service) indexClipParts(doc ClipDoc) error {
	if !needsClipProxy(doc) {
		return nil
	}
	for _, p := range doc.Parts {
		if p.Role == "video" && p.AssetID != "" {
			if err := s.cat.PutState(clipOfKey(p.AssetID), doc.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// startClipProxy runs maybeClipProxy: on its own goroutine when clip
// proxies are transcode lane jobs (the wait for the lane's turn must not
// hold the event loop that attaches card origins), else inline.
func (s *Service) startClipProxy(ctx context.Context, assetID string) {
	if s.clipProxy == nil || s.clipProxy.lane == nil {
		s.maybeClipProxy(ctx, assetID)
		return
	}
	s.clipWG.Add(1)
	go func() {
		defer s.clipWG.Done()
		s.maybeClipProxy(ctx, assetID)
	}()
}

// maybeClipProxy cuts the whole-clip proxy of the clip asset id is a video
// part of, when all its video parts have a ready proxy.
func (s *Service) maybeClipProxy(ctx context.Context, assetID string) {
	if s.clipProxy == nil || assetID == "" {
		return
	}
	var id string
	if err := s.cat.GetState(clipOfKey(assetID), &id); err != nil {
		return
	}
	s.clipMu.Lock()
	doc, err := s.cat.Clip(id)
	s.clipMu.Unlock()
	if err != nil || (doc.Proxy != nil && doc.Proxy.Status == "ready") {
		return
	}
	src := ClipSources{AudioBitrate: s.clipProxy.audioBitrate, ChannelTracks: s.clipProxy.channelTracks}
	var video []ClipPart
	for _, p := range doc.Parts {
		if p.Role != "video" {
			continue
		}
		a, err := s.cat.Asset(p.AssetID)
		if err != nil || a.Proxy == nil || a.Proxy.Status != transcode.StatusReady {
			return
		}
		f := storage.OutputPath(s.clipProxy.stateDir, p.AssetID, transcode.OutProxyVideo)
		if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
			return
		}
		src.Video = append(src.Video, f)
		video = append(video, p)
	}
	if doc.Meta != nil && doc.Meta.StartTimecode != "" {
		src.Timecode = doc.Meta.StartTimecode
	}
	var cutErr error
	src.Audio, cutErr = s.separateAudio(doc, len(video))
	out := ClipProxyPath(s.clipProxy.stateDir, id)
	cp := &ClipProxy{Status: "ready", At: time.Now().UTC()}
	var frames int64
	if cutErr == nil {
		if lane := s.clipProxy.lane; lane != nil {
			cutErr = lane(ctx, "clip-proxy:"+id, func(ctx context.Context, r *transcode.Runner) error {
				var err error
				frames, err = cutClipProxy(ctx, r, s.clipProxy.ffprobe, src, out)
				return err
			})
		} else {
			frames, cutErr = CutClipProxy(ctx, s.clipProxy.ffmpeg, s.clipProxy.ffprobe, src, out)
		}
	}
	if cutErr != nil {
		if ctx.Err() != nil || errors.Is(cutErr, transcode.ErrLaneJobQueued) || errors.Is(cutErr, transcode.ErrNotRunning) {
			return // being cut already, or the stage stops: not a failure of the clip
		}
		s.log.Warn("clip proxy", "clip", id, "err", cutErr)
		// Served by the API: no absolute server path (the log keeps them).
		prefixes := map[string]string{s.clipProxy.stateDir: "state_dir"}
		for name, root := range s.vols {
			prefixes[root] = name
		}
		cp = &ClipProxy{Status: "failed", Error: transcode.ScrubPaths(cutErr.Error(), prefixes), At: cp.At}
	} else {
		cp.Frames = frames
		if fi, err := os.Stat(out); err == nil {
			cp.Bytes = fi.Size()
		}
	}
	// Store the result unless the clip changed meanwhile (another card
	// brought more spans): then its new parts' proxies cut it again.
	s.clipMu.Lock()
	cur, cerr := s.cat.Clip(id)
	if cerr != nil || !slices.Equal(cur.Parts, doc.Parts) {
		s.clipMu.Unlock()
		return
	}
	cur.Proxy = cp
	err = s.cat.PutClip(cur)
	s.clipMu.Unlock()
	if err != nil {
		s.log.Warn("clip proxy record", "clip", id, "err", err)
		return
	}
	if cp.Status == "ready" {
		detail, _ := json.Marshal(cp)
		if _, err := s.cat.AppendEvent(storage.Event{Type: EvClipProxyReady, Volume: doc.Volume, Path: id, Detail: string(detail)}); err != nil {
			s.log.Warn("clip proxy event", "clip", id, "err", err)
		}
	}
}

// separateAudio returns the clip's separate audio masters per channel, each
// channel's files in span order. P2 names a span's channel files
// <clip>00.MXF, <clip>01.MXF ...: the channel is the two digits before the
// extension. A channel missing from a span cannot be lined up with the
// video, so only channels every span has are used.
func (s *Service) separateAudio(doc ClipDoc, spans int) ([][]string, error) {
	var order []string
	byCh := map[string][]string{}
	for _, p := range doc.Parts {
		if p.Role != "audio" {
			continue
		}
		root, ok := s.vols[doc.Volume]
		if !ok {
			return nil, fmt.Errorf("clip %s: volume %q not configured", doc.ID, doc.Volume)
		}
		stem := strings.TrimSuffix(path.Base(p.Path), path.Ext(p.Path))
		ch := stem
		if len(stem) >= 2 {
			ch = stem[len(stem)-2:]
		}
		if _, seen := byCh[ch]; !seen {
			order = append(order, ch)
		}
		f := filepath.Join(root, filepath.FromSlash(p.Path))
		if !strings.HasPrefix(f, filepath.Clean(root)+string(filepath.Separator)) {
			return nil, fmt.Errorf("clip %s: audio part %q is not inside volume %q", doc.ID, p.Path, doc.Volume)
		}
		byCh[ch] = append(byCh[ch], f)
	}
	var out [][]string
	for _, ch := range order {
		if len(byCh[ch]) == spans {
			out = append(out, byCh[ch])
		} else {
			s.log.Warn("clip proxy: audio channel not in every span, left out", "clip", doc.ID, "channel", ch, "files", len(byCh[ch]), "spans", spans)
		}
	}
	if len(order) > 0 && len(out) == 0 {
		return nil, fmt.Errorf("clip %s: no audio channel is present in all %d spans", doc.ID, spans)
	}
	return out, nil
}
