package storage

import (
	"path/filepath"
	"strings"
)

// Asset kinds (Asset.Kind). A file is given one by ffprobe (transcode);
// before that, or when ffprobe cannot read it, its extension says what it
// should be (MediaExtOf).
const (
	KindVideo = "video"
	KindAudio = "audio"
	KindImage = "image"
	KindOther = "other"
)

// MediaExt is what a file name's extension says about a file before it is
// probed. It is the one table of media extensions: transcode (is a file
// that ffprobe cannot read corrupt media or a document? can FFmpeg decode
// it at all?), daemon/cards (which files on a card are a clip's media) and
// daemon/sequences (which image formats are grouped into frame sequences)
// all read it, so they cannot disagree about an extension.
type MediaExt struct {
	Ext  string // lowercase, with the dot: ".mov"
	Kind string // KindVideo, KindAudio or KindImage
	// NoDecoder names the format when FFmpeg (5.1) cannot decode it (camera
	// raw): such a file is cataloged with its kind but gets no proxy.
	NoDecoder string
	// Frame marks an image format grouped into frame sequences by default
	// (sequences.extensions).
	Frame bool
}

// mediaExts is the table, in the order FrameExtensions lists frame formats.
var mediaExts = []MediaExt{
	// Frame formats first: their order is the documented default of
	// sequences.extensions.
	{Ext: ".dpx", Kind: KindImage, Frame: true},
	{Ext: ".exr", Kind: KindImage, Frame: true},
	{Ext: ".tif", Kind: KindImage, Frame: true},
	{Ext: ".tiff", Kind: KindImage, Frame: true},
	{Ext: ".png", Kind: KindImage, Frame: true},
	{Ext: ".jpg", Kind: KindImage, Frame: true},
	{Ext: ".jpeg", Kind: KindImage, Frame: true},
	{Ext: ".bmp", Kind: KindImage},
	{Ext: ".webp", Kind: KindImage},
	{Ext: ".dng", Kind: KindImage},
	{Ext: ".heic", Kind: KindImage, NoDecoder: "HEIF"},
	{Ext: ".cr2", Kind: KindImage, NoDecoder: "Canon CR2 raw photo"},
	{Ext: ".cr3", Kind: KindImage, NoDecoder: "Canon CR3 raw photo"},
	{Ext: ".arw", Kind: KindImage, NoDecoder: "Sony ARW raw photo"},
	{Ext: ".nef", Kind: KindImage, NoDecoder: "Nikon NEF raw photo"},
	{Ext: ".raf", Kind: KindImage, NoDecoder: "Fujifilm RAF raw photo"},

	{Ext: ".mov", Kind: KindVideo},
	{Ext: ".mp4", Kind: KindVideo},
	{Ext: ".m4v", Kind: KindVideo},
	{Ext: ".mxf", Kind: KindVideo},
	{Ext: ".mts", Kind: KindVideo},
	{Ext: ".m2ts", Kind: KindVideo},
	{Ext: ".ts", Kind: KindVideo},
	{Ext: ".avi", Kind: KindVideo},
	{Ext: ".mkv", Kind: KindVideo},
	{Ext: ".webm", Kind: KindVideo},
	{Ext: ".mpg", Kind: KindVideo},
	{Ext: ".mpeg", Kind: KindVideo},
	{Ext: ".m2v", Kind: KindVideo},
	{Ext: ".dv", Kind: KindVideo},
	{Ext: ".3gp", Kind: KindVideo},
	{Ext: ".360", Kind: KindVideo},  // GoPro MAX (MP4)
	{Ext: ".insv", Kind: KindVideo}, // Insta360 (MP4)
	{Ext: ".r3d", Kind: KindVideo, NoDecoder: "RED R3D"},
	{Ext: ".braw", Kind: KindVideo, NoDecoder: "Blackmagic RAW"},
	{Ext: ".ari", Kind: KindVideo, NoDecoder: "ARRIRAW"},
	{Ext: ".arx", Kind: KindVideo, NoDecoder: "ARRIRAW (HDE)"},
	{Ext: ".crm", Kind: KindVideo, NoDecoder: "Canon Cinema RAW Light"},
	{Ext: ".nev", Kind: KindVideo, NoDecoder: "Nikon N-RAW"},
	{Ext: ".mxr", Kind: KindVideo, NoDecoder: "ARRIRAW in MXF"},

	{Ext: ".wav", Kind: KindAudio},
	{Ext: ".bwf", Kind: KindAudio},
	{Ext: ".aif", Kind: KindAudio},
	{Ext: ".aiff", Kind: KindAudio},
	{Ext: ".mp3", Kind: KindAudio},
	{Ext: ".m4a", Kind: KindAudio},
	{Ext: ".aac", Kind: KindAudio},
	{Ext: ".flac", Kind: KindAudio},
	{Ext: ".ogg", Kind: KindAudio},
	{Ext: ".opus", Kind: KindAudio},
}

var mediaExtIndex = func() map[string]MediaExt {
	m := make(map[string]MediaExt, len(mediaExts))
	for _, e := range mediaExts {
		m[e.Ext] = e
	}
	return m
}()

// MediaExtOf looks up name's extension (case-insensitive; name may be a
// path, slash- or OS-separated). ok is false for an extension that is not
// media (".xml", ".txt", none).
func MediaExtOf(name string) (e MediaExt, ok bool) {
	e, ok = mediaExtIndex[strings.ToLower(filepath.Ext(name))]
	return e, ok
}

// MediaExts returns a copy of the whole table.
func MediaExts() []MediaExt { return append([]MediaExt(nil), mediaExts...) }

// FrameExtensions returns the extensions (lowercase, without the dot) of
// the image formats grouped into frame sequences by default, in the
// documented order.
func FrameExtensions() []string {
	var out []string
	for _, e := range mediaExts {
		if e.Frame {
			out = append(out, strings.TrimPrefix(e.Ext, "."))
		}
	}
	return out
}
