package transcode

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// What FFmpeg may open. A file found on a volume is untrusted: FFmpeg and
// ffprobe follow what a file says, so an HLS playlist (any extension: the
// demuxer is chosen from the content), an ffconcat list, a DASH or IMF
// manifest or a VobSub index makes them read other local files or URLs, and
// an image2 file name with %d or glob characters is expanded into a numbered
// sequence of other files. Every FFmpeg and ffprobe invocation therefore
//
//   - allows the file protocol only (-protocol_whitelist file) and names its
//     input as file:<absolute path>, so no name is read as a URL, a protocol
//     or an option;
//   - opens a master with a demuxer of AcceptedFormats only
//     (-format_whitelist; ffprobe detects the format, FFmpeg then refuses
//     any other with "Format not on whitelist" before reading past the
//     probe), and FFmpeg runs with the probed demuxer forced (-f);
//   - reads image2 inputs with -pattern_type none (one literal file).
//
// A master whose detected demuxer is not accepted is never opened again:
// it is cataloged as what it is (media.container is the demuxer) with a
// reason, and gets no proxy.

// AcceptedFormats are the demuxers (FFmpeg short names) a master may be
// opened with: containers and elementary streams that read only the file
// itself. Playlists, lists, manifests, indexes with side files, network
// and device inputs are absent on purpose (see referenceFormats).
var AcceptedFormats = []string{
	// Video containers.
	"mov", "mp4", "m4a", "3gp", "3g2", "mj2", // one demuxer: mov,mp4,m4a,3gp,3g2,mj2
	"matroska", "webm", // one demuxer: matroska,webm
	"mxf", "avi", "mpegts", "mpeg", "mpegvideo", "m4v", "h264", "hevc", "dnxhd", "dv",
	"flv", "asf", "ogg", "gxf", "lxf", "nut", "ivf", "yuv4mpegpipe", "cine", "r3d", "wtv",
	// Audio.
	"wav", "w64", "aiff", "caf", "mp3", "aac", "ac3", "eac3", "flac", "wv", "dts", "truehd", "mlp", "loas",
	// Stills (image2 only with -pattern_type none).
	"image2", "png_pipe", "jpeg_pipe", "tiff_pipe", "webp_pipe", "bmp_pipe", "dpx_pipe", "exr_pipe",
	"gif", "gif_pipe", "j2k_pipe", "jpegls_pipe", "jpegxl_pipe", "ppm_pipe", "pgm_pipe", "pam_pipe",
	"pbm_pipe", "psd_pipe", "sgi_pipe", "qoi_pipe", "sunrast_pipe", "pictor_pipe",
}

// formatWhitelist is AcceptedFormats as FFmpeg's -format_whitelist value.
var formatWhitelist = strings.Join(AcceptedFormats, ",")

// referenceFormats are demuxers that open other files or URLs named inside
// the input (or synthesise media from a script). A master detected as one
// of these is refused with the reason given here.
var referenceFormats = map[string]string{
	"hls":                "HLS playlist",
	"dash":               "DASH manifest",
	"webm_dash_manifest": "WebM DASH manifest",
	"concat":             "ffconcat list",
	"imf":                "IMF composition playlist",
	"sdp":                "SDP session description",
	"rtp":                "RTP session",
	"rtsp":               "RTSP session",
	"vobsub":             "VobSub index (opens its .sub file)",
	"mlv":                "Magic Lantern video (opens its sibling chunk files)",
	"lavfi":              "lavfi filter graph",
	"ffmetadata":         "FFmpeg metadata file",
	"sbg":                "SBaGen script",
	"mpjpeg":             "multipart JPEG stream",
	"image2pipe":         "image pipe",
}

// ErrRefused marks a master whose container format is not accepted: it was
// detected but never read past the probe.
var ErrRefused = errors.New("container format not accepted")

// RefusedError says which demuxer FFmpeg detected for a refused master.
type RefusedError struct {
	Format string // FFmpeg demuxer name, e.g. "hls"
}

func (e *RefusedError) Error() string { return e.Reason() }

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Reference reports whether the format names other files or URLs.
func (e *RefusedError) Reference() bool { _, ok := referenceFormats[e.Format]; return ok }

// Reason is the public explanation stored as proxy.error.
func (e *RefusedError) Reason() string {
	if what, ok := referenceFormats[e.Format]; ok {
		return fmt.Sprintf("refused: %s (FFmpeg format %q) names other files or URLs, which ingestd never opens; no proxy", what, e.Format)
	}
	return fmt.Sprintf("refused: container format %q is not accepted for proxies (see docs/api.md)", e.Format)
}

// notOnWhitelist matches FFmpeg's log line when the detected demuxer is not
// on -format_whitelist: "[hls @ 0x55d0c3a4e6c0] Format not on whitelist '…'".
var notOnWhitelist = regexp.MustCompile(`\[([A-Za-z0-9_,]+) @ 0x[0-9a-f]+\] Format not on whitelist`)

// refusedFrom returns the RefusedError described in FFmpeg's stderr, or nil.
func refusedFrom(stderr string) *RefusedError {
	m := notOnWhitelist.FindStringSubmatch(stderr)
	if m == nil {
		return nil
	}
	return &RefusedError{Format: m[1]}
}

// literal names path as a file for FFmpeg: the file protocol, never a URL,
// another protocol or an option (a name may start with '-' or hold ':').
func literal(path string) string { return "file:" + path }

// probeInput is the input part of an ffprobe command on an untrusted master
// whose format is not known yet: the file protocol only, accepted demuxers
// only, and no image2 sequence expansion of its name.
func probeInput(path string) []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", formatWhitelist,
		"-pattern_type", "none", "-i", literal(path)}
}

// demuxer returns the accepted FFmpeg demuxer for a probed format name
// (ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", or the
// storage.Media container derived from it, e.g. "mp4" or "png"), or "" when
// it is not accepted.
func demuxer(format string) string {
	f, _, _ := strings.Cut(strings.TrimSpace(format), ",")
	switch f {
	case "":
		return ""
	case "mp4", "m4a", "3gp", "3g2", "mj2", "mov":
		return "mov"
	case "webm", "matroska":
		return "matroska"
	}
	if _, bad := referenceFormats[f]; bad {
		return ""
	}
	if slices.Contains(AcceptedFormats, f) {
		return f
	}
	if slices.Contains(AcceptedFormats, f+"_pipe") {
		return f + "_pipe"
	}
	return ""
}

// inputArgs is the input part of an FFmpeg or ffprobe command on a file
// whose demuxer is known (probed, or ingestd's own output): that demuxer
// forced, the file protocol only, and one literal file for image2.
func inputArgs(format, path string) ([]string, error) {
	d := demuxer(format)
	if d == "" {
		return nil, &RefusedError{Format: format}
	}
	args := []string{"-protocol_whitelist", "file", "-format_whitelist", formatWhitelist, "-f", d}
	if d == "image2" {
		args = append(args, "-pattern_type", "none")
	}
	return append(args, "-i", literal(path)), nil
}

// ownInput is inputArgs for ingestd's own outputs (proxies, posters): the
// demuxer is fixed by what ingestd wrote.
func ownInput(format, path string) []string {
	args, err := inputArgs(format, path)
	if err != nil {
		panic("transcode: own output format " + format + " not accepted")
	}
	return args
}

// Formats of ingestd's own outputs, for ownInput.
const (
	fmtMP4  = "mov"       // proxy.mp4, proxy.m4a
	fmtJPEG = "jpeg_pipe" // proxy.jpg, poster.jpg, filmstrip.jpg
)

// absPath matches an absolute path left in a message after the known
// prefixes were replaced: a '/' at the start or after a space, quote,
// bracket, '=' or ':' (file:/…), then path characters up to a space or
// quote.
var absPath = regexp.MustCompile(`(^|[\s'"(\[=:,])/[^\s'"(),\]]*`)

// ScrubPaths makes a message safe to serve: every prefix in prefixes (an
// absolute server path: a volume root, the state dir) is replaced by its
// value (e.g. the volume name, "state_dir"), longest first, and any other
// absolute path left is cut to its last element ("…/name"). The full
// message belongs in the local log only.
func ScrubPaths(msg string, prefixes map[string]string) string {
	keys := make([]string, 0, len(prefixes))
	for k := range prefixes {
		k = strings.TrimRight(k, "/")
		if k != "" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		v := prefixes[k]
		if v == "" {
			v = prefixes[k+"/"]
		}
		msg = strings.ReplaceAll(msg, "file:"+k+"/", v+"/")
		msg = strings.ReplaceAll(msg, k+"/", v+"/")
	}
	return absPath.ReplaceAllStringFunc(msg, func(m string) string {
		lead := ""
		if m != "" && m[0] != '/' {
			lead, m = m[:1], m[1:]
		}
		if i := strings.LastIndexByte(m, '/'); i >= 0 && i < len(m)-1 {
			return lead + "…/" + m[i+1:]
		}
		return lead + "…/"
	})
}

// InputArgs is the input part of an FFmpeg or ffprobe command on path
// whose container is known (format: a demuxer name or a
// storage.Media.Container): the file protocol only, that demuxer forced,
// one literal file for image2. It fails with a *RefusedError for a format
// that is not accepted.
func InputArgs(format, path string) ([]string, error) { return inputArgs(format, path) }

// Literal names path as a file for FFmpeg (file:<path>): never a URL,
// another protocol or an option.
func Literal(path string) string { return literal(path) }
