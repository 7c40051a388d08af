package cardsvc

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/daemon/api"
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
