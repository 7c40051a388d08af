package transcode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"

	"github.com/ingestd/ingestd/internal/safefs"
	"github.com/ingestd/ingestd/storage"
)

// sniffLen is how much of a file's start the probe gate reads.
const sniffLen = 4096

// worthProbing is the gate before ffprobe: a file is probed when its name
// has an extension of the media table (storage.MediaExtOf) or its first
// bytes (at most sniffLen, read from root/rel opened with safefs: no
// symbolic link followed, O_NONBLOCK, regular files only) carry a media
// signature (sniffMedia). Everything else (text, JSON, XML, PDF, empty or
// random files, sidecars) is a document: cataloged as kind other without
// starting ffprobe, as ffprobe's "Invalid data" would have left it.
//
// A file that cannot be opened this way (a link, a FIFO, gone, unreadable)
// is probed as before the gate existed: the gate only saves processes, it
// decides nothing else.
func worthProbing(root, rel string) (bool, error) {
	if _, ok := storage.MediaExtOf(rel); ok {
		return true, nil
	}
	d, err := safefs.OpenRoot(root, false)
	if err != nil {
		return true, fmt.Errorf("sniff %s: %w", filepath.Join(root, rel), err)
	}
	defer d.Close()
	f, _, err := d.OpenRegular(filepath.ToSlash(rel))
	if err != nil {
		return true, fmt.Errorf("sniff %s: %w", filepath.Join(root, rel), err)
	}
	defer f.Close()
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return true, fmt.Errorf("sniff %s: %w", f.Name(), err)
	}
	return sniffMedia(head[:n]), nil
}

// at reports whether b holds sig at offset off.
func at(b []byte, off int, sig string) bool {
	return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig
}

// sniffMedia reports whether head, the first bytes of a file, starts like
// something ffprobe may recognise: a media container, elementary stream or
// still of a format FFmpeg reads, or one of the text formats ffprobe
// detects and the stage records (subtitles, playlists and lists, refused
// with their container named as before the gate existed). False means
// ffprobe would answer "Invalid data found when processing input".
func sniffMedia(head []byte) bool {
	for _, sig := range mediaSignatures {
		if sig(head) {
			return true
		}
	}
	return false
}

// mediaSignatures: one function per family (for the table test's names).
var mediaSignatures = []func([]byte) bool{
	// ISO BMFF / QuickTime (mov, mp4, m4a, 3gp, heic, avif, BRAW, mj2, jp2,
	// JPEG XL container): a box type at offset 4.
	func(b []byte) bool {
		for _, box := range []string{"ftyp", "moov", "mdat", "wide", "free", "skip", "pnot", "jP  ", "JXL "} {
			if at(b, 4, box) {
				return true
			}
		}
		return false
	},
	func(b []byte) bool { return at(b, 0, "\x06\x0e\x2b\x34\x02\x05\x01\x01") }, // MXF partition pack
	func(b []byte) bool { return at(b, 0, "\x1a\x45\xdf\xa3") },                 // Matroska / WebM (EBML)
	func(b []byte) bool { // RIFF (WAVE, AVI, WEBP, …), RF64, BW64, Sony Wave64
		return at(b, 0, "RIFF") || at(b, 0, "RF64") || at(b, 0, "BW64") || at(b, 0, "riff\x2e\x91\xcf\x11")
	},
	func(b []byte) bool { return at(b, 0, "FORM") && (at(b, 8, "AIFF") || at(b, 8, "AIFC")) },
	mpegTS,
	func(b []byte) bool { return at(b, 0, "\x00\x00\x01") || at(b, 0, "\x00\x00\x00\x01") }, // MPEG-PS/ES, H.264/HEVC Annex B
	func(b []byte) bool { return at(b, 0, "ID3") },
	func(b []byte) bool { return len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0 },             // MPEG audio / ADTS frame sync
	func(b []byte) bool { return at(b, 0, "\x0b\x77") },                                         // AC-3 / E-AC-3
	func(b []byte) bool { return at(b, 0, "\x7f\xfe\x80\x01") || at(b, 0, "\xfe\x7f\x01\x80") }, // DTS
	func(b []byte) bool {
		return at(b, 0, "fLaC") || at(b, 0, "OggS") || at(b, 0, "caff") || at(b, 0, "wvpk")
	},
	func(b []byte) bool { return at(b, 0, "FLV") || at(b, 0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11") }, // FLV, ASF
	func(b []byte) bool { return at(b, 0, "DKIF") || at(b, 0, "YUV4MPEG2") || at(b, 0, "nut/multimedia") },
	func(b []byte) bool { return at(b, 4, "RED1") || at(b, 4, "RED2") || at(b, 0, "ARRI\x12\x34\x56\x78") }, // R3D, ARRIRAW
	func(b []byte) bool { return at(b, 0, "\x89PNG\r\n\x1a\n") || at(b, 0, "\xff\xd8\xff") },
	func(b []byte) bool { return at(b, 0, "II*\x00") || at(b, 0, "MM\x00*") },                           // TIFF (DNG, CR2)
	func(b []byte) bool { return at(b, 0, "SDPX") || at(b, 0, "XPDS") || at(b, 0, "\x76\x2f\x31\x01") }, // DPX, EXR
	func(b []byte) bool { return at(b, 0, "GIF87a") || at(b, 0, "GIF89a") || at(b, 0, "BM") },
	func(b []byte) bool { // JPEG 2000 codestream, JPEG XL codestream, PSD, SGI, QOI, Sun raster
		return at(b, 0, "\xff\x4f\xff\x51") || at(b, 0, "\xff\x0a") || at(b, 0, "8BPS") ||
			at(b, 0, "\x01\xda") || at(b, 0, "qoif") || at(b, 0, "\x59\xa6\x6a\x95")
	},
	func(b []byte) bool { // Netpbm P1–P7
		return len(b) >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7' && (b[2] == '\n' || b[2] == ' ' || b[2] == '\r' || b[2] == '\t')
	},
	textFormat,
}

// mpegTS: 188-byte transport packets (sync byte 0x47 at 0 and 188), or
// 192-byte M2TS/AVCHD packets (at 4 and 196); a file shorter than two
// packets needs only the first sync byte.
func mpegTS(b []byte) bool {
	for _, p := range [][2]int{{0, 188}, {4, 192}} {
		if len(b) > p[0] && b[p[0]] == 0x47 && (len(b) <= p[0]+p[1] || b[p[0]+p[1]] == 0x47) {
			return true
		}
	}
	return false
}

// textMarkers are the starts of the text formats ffprobe detects from
// content (subtitles, playlists, lists, metadata); the stage records them
// (refused, with their container, some with a reason) as it did when every
// file was probed.
var textMarkers = []string{
	"WEBVTT", "#EXTM3U", "ffconcat version", ";FFMETADATA", "[Script Info]",
	"# VobSub index file", "<SAMI", "<sami", "v=0", "{0}{", "{1}{", "[INFORMATION]", "MLVI",
	"[ti:", "[ar:", "[al:", "[00:", "Scenarist_SCC",
}

// cue is a subtitle cue's timing line (SubRip, WebVTT and the like).
var cue = regexp.MustCompile(`[0-9]{1,2}:[0-9]{2}[0-9:.,]*[ \t]*-->`)

// textFormat: a known text-format start (after a UTF-8 BOM and blank
// space), a DASH/IMF XML document, a multipart JPEG stream, or a subtitle
// cue timing line ("00:00:01,000 -->") in the first bytes.
func textFormat(b []byte) bool {
	t := bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
	for _, m := range textMarkers {
		if bytes.HasPrefix(t, []byte(m)) {
			return true
		}
	}
	switch {
	case bytes.HasPrefix(t, []byte("<")): // XML: only a DASH manifest or an IMF playlist
		return bytes.Contains(t, []byte("<MPD")) || bytes.Contains(t, []byte("<CompositionPlaylist"))
	case bytes.HasPrefix(t, []byte("--")): // multipart JPEG
		return bytes.Contains(bytes.ToLower(t), []byte("content-type"))
	}
	return cue.Match(b)
}
