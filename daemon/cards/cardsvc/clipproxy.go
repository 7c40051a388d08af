package cardsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// ConcatProxies cuts the proxy of a whole clip by stream-copying the
// per-part proxies (cut by transcode with the same parameters and a closed
// GOP) in order with FFmpeg's concat demuxer. It writes a temp file next to
// out, checks with ffprobe that its video frame count is the sum of the
// parts', and renames it into place. It returns that frame count.
func ConcatProxies(ctx context.Context, ffmpeg, ffprobe string, parts []string, out string) (int64, error) {
	if len(parts) == 0 {
		return 0, fmt.Errorf("clip proxy: no parts")
	}
	var want int64
	var list strings.Builder
	for _, p := range parts {
		n, err := countFrames(ctx, ffprobe, p)
		if err != nil {
			return 0, err
		}
		want += n
		abs, err := filepath.Abs(p)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(&list, "file '%s'\n", strings.ReplaceAll(abs, "'", `'\''`))
	}
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	lst := filepath.Join(dir, ".parts.txt")
	if err := os.WriteFile(lst, []byte(list.String()), 0o644); err != nil {
		return 0, err
	}
	defer os.Remove(lst)
	tmp := filepath.Join(dir, ".proxy.tmp.mp4")
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-y", "-f", "concat", "-safe", "0",
		"-i", lst, "-map", "0:v", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart", tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("clip proxy: ffmpeg concat: %w: %s", err, tail(stderr.String(), 600))
	}
	if _, _, err := transcode.Probe(ctx, ffprobe, tmp); err != nil {
		return 0, fmt.Errorf("clip proxy: %w", err)
	}
	got, err := countFrames(ctx, ffprobe, tmp)
	if err != nil {
		return 0, err
	}
	if got != want {
		return 0, fmt.Errorf("clip proxy: %d frames, parts have %d", got, want)
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	return got, nil
}

// countFrames counts the video packets of path's first video stream.
func countFrames(ctx context.Context, ffprobe, path string) (int64, error) {
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path)
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
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			api.WriteError(w, http.StatusNotFound, "no clip "+id, "id")
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
		http.ServeContent(w, r, "proxy.mp4", fi.ModTime(), f)
	})
	return mux
}

// EvClipProxyReady is appended when the proxy of a whole multi-part clip is
// in place; Path is the clip id, Detail the clip proxy JSON (ClipProxy).
const EvClipProxyReady = "clip.proxy_ready"

// ClipProxy is the state of a multi-part clip's whole-clip proxy.
type ClipProxy struct {
	Status string    `json:"status"` // ready | failed
	Frames int64     `json:"frames,omitempty"`
	Bytes  int64     `json:"bytes,omitempty"`
	Error  string    `json:"error,omitempty"`
	At     time.Time `json:"at"`
}

type clipProxyConfig struct{ stateDir, ffmpeg, ffprobe string }

// SetClipProxy enables whole-clip proxies for multi-part video clips: once
// every video part's proxy is ready, they are concatenated into
// <state_dir>/clips/<clip id>/proxy.mp4. Call before Run.
func (s *Service) SetClipProxy(stateDir, ffmpeg, ffprobe string) {
	s.clipProxy = &clipProxyConfig{stateDir, ffmpeg, ffprobe}
}

func clipOfKey(assetID string) string { return "cards/clipof/" + assetID }

// indexClipParts remembers which multi-part clip each video part belongs to.
func (s *Service) indexClipParts(doc ClipDoc) error {
	var vids []ClipPart
	for _, p := range doc.Parts {
		if p.Role == "video" && p.AssetID != "" {
			vids = append(vids, p)
		}
	}
	if len(vids) < 2 {
		return nil
	}
	for _, p := range vids {
		if err := s.cat.PutState(clipOfKey(p.AssetID), doc.ID); err != nil {
			return err
		}
	}
	return nil
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
	var doc ClipDoc
	if err := s.cat.GetState(clipKey(id), &doc); err != nil {
		return
	}
	if doc.Proxy != nil && doc.Proxy.Status == "ready" {
		return
	}
	var parts []string
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
		parts = append(parts, f)
	}
	out := ClipProxyPath(s.clipProxy.stateDir, id)
	cp := &ClipProxy{Status: "ready", At: time.Now().UTC()}
	frames, err := ConcatProxies(ctx, s.clipProxy.ffmpeg, s.clipProxy.ffprobe, parts, out)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("clip proxy", "clip", id, "err", err)
		cp = &ClipProxy{Status: "failed", Error: err.Error(), At: cp.At}
	} else {
		cp.Frames = frames
		if fi, err := os.Stat(out); err == nil {
			cp.Bytes = fi.Size()
		}
	}
	doc.Proxy = cp
	if err := s.cat.PutState(clipKey(id), doc); err != nil {
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
