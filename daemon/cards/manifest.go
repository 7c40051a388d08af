package cards

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/safefs"
)

// Checksum manifests found on a card (md5sum and xxhsum output, from the
// camera, a recorder or an earlier copy) are checked against the offloaded
// copy and reported in Result.Manifests. A mismatch is reported, not fatal:
// the copy itself was verified against the card byte for byte; the
// manifest says whether the card still holds what was recorded.
const (
	MaxManifestSize       = 16 << 20 // bytes read of one manifest
	MaxManifests          = 256      // manifests checked per card
	MaxManifestMismatches = 50       // mismatches listed per manifest
)

// ManifestExts are the file name extensions (any case) read as manifests.
var ManifestExts = []string{".md5", ".xxhash", ".xxh64", ".xxh128"}

// ManifestCheck is the result of checking one manifest on the card.
type ManifestCheck = wire.ManifestCheck

// ManifestMismatch is one manifest line that did not check out.
type ManifestMismatch = wire.ManifestMismatch

// IsManifest reports whether rel names a checksum manifest (ManifestExts).
func IsManifest(rel string) bool {
	ext := strings.ToLower(path.Ext(rel))
	for _, e := range ManifestExts {
		if ext == e {
			return true
		}
	}
	return false
}

// manifestLine is one checksum line.
type manifestLine struct {
	n      int // line number, from 1
	format ascmhl.Format
	digest string // lowercase hex
	name   string // as written (unescaped)
	err    string // unusable line
}

var (
	reBSDLine = regexp.MustCompile(`^(MD5|SHA1|XXH32|XXH64|XXH128|XXH3) ?\((.*)\) ?= ?([0-9a-fA-F]+)$`)
	reGNULine = regexp.MustCompile(`^(XXH3_)?([0-9a-fA-F]+) [ *](.+)$`)
)

// parseManifest reads md5sum/sha1sum/xxhsum output, GNU ("HEX  name",
// "HEX *name", a leading backslash for escaped names) or BSD ("MD5 (name) =
// HEX", xxhsum --tag). In GNU lines the format follows from the digest's
// length: 32 hex digits are md5 in a .md5 file and xxh128 otherwise, 16 are
// xxh64 (xxhsum's default), 40 sha1. Blank lines and # comments are skipped.
func parseManifest(data []byte, ext string) []manifestLine {
	var out []manifestLine
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark (Windows tools)
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimRight(string(raw), "\r")
		// Comments: '#' (xxhsum, md5deep), ';' (md5summer, other
		// Windows tools); no hex digest starts with either.
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		l := manifestLine{n: i + 1}
		escaped := false
		if strings.HasPrefix(line, `\`) {
			escaped, line = true, line[1:]
		}
		if m := reBSDLine.FindStringSubmatch(line); m != nil {
			l.name, l.digest = m[2], strings.ToLower(m[3])
			switch m[1] {
			case "MD5":
				l.format = ascmhl.MD5
			case "SHA1":
				l.format = ascmhl.SHA1
			case "XXH64":
				l.format = ascmhl.XXH64
			case "XXH128":
				l.format = ascmhl.XXH128
			case "XXH3":
				l.format = ascmhl.XXH3
			default:
				l.err = strings.ToLower(m[1]) + " is not a supported hash format"
			}
		} else if m := reGNULine.FindStringSubmatch(line); m != nil {
			l.name, l.digest = m[3], strings.ToLower(m[2])
			switch {
			case m[1] != "" && len(l.digest) == 16:
				l.format = ascmhl.XXH3
			case m[1] != "":
				l.err = "malformed xxh3 digest"
			case len(l.digest) == 32 && ext == ".md5":
				l.format = ascmhl.MD5
			case len(l.digest) == 32:
				l.format = ascmhl.XXH128
			case len(l.digest) == 16 && ext != ".md5":
				l.format = ascmhl.XXH64
			case len(l.digest) == 40:
				l.format = ascmhl.SHA1
			default:
				l.err = fmt.Sprintf("a %d-digit digest is no supported hash format", len(l.digest))
			}
		} else {
			l.err = "not a checksum line"
		}
		if escaped {
			l.name = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(l.name)
		} else {
			l.name = strings.ReplaceAll(l.name, `\`, "/") // written on Windows
		}
		out = append(out, l)
	}
	return out
}

// resolveManifestPath resolves a manifest line's name against the folder
// of the manifest (card-relative); ok is false for a name that is absolute
// or leaves the card.
func resolveManifestPath(manifest, name string) (string, bool) {
	name = strings.TrimPrefix(name, "./")
	if name == "" || path.IsAbs(name) || strings.ContainsRune(name, 0) {
		return name, false
	}
	rel := path.Clean(path.Join(path.Dir(manifest), name))
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return name, false
	}
	return rel, true
}

// checkManifests checks every manifest among the offloaded files against
// the copies in dir (a verified destination folder, held open; name is its
// path, for logs): hashes computed while copying are used where they
// exist, other formats are read back from the copy. Only files that were
// offloaded are ever read; a manifest line naming anything else is a
// mismatch. The error is the context's, only.
func checkManifests(ctx context.Context, log *slog.Logger, dir *safefs.Dir, name string, files []FileResult) ([]ManifestCheck, error) {
	byPath := make(map[string]*FileResult, len(files))
	byFold := make(map[string]*FileResult, len(files))
	var manifests []string
	for i := range files {
		fr := &files[i]
		byPath[fr.Path] = fr
		byFold[strings.ToLower(fr.Path)] = fr // FAT and exFAT ignore case
		if IsManifest(fr.Path) {
			manifests = append(manifests, fr.Path)
		}
	}
	sort.Strings(manifests)
	if len(manifests) > MaxManifests {
		log.Warn("too many checksum manifests on the card; checking the first ones", "count", len(manifests), "checked", MaxManifests)
		manifests = manifests[:MaxManifests]
	}
	var out []ManifestCheck
	// Digests read back from the copy, kept across manifests: a file
	// listed by many manifests (or a card with hundreds of them) is read
	// once per format, not once per manifest.
	readBack := map[string]map[ascmhl.Format]string{}
	for _, m := range manifests {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		mc, err := checkManifest(ctx, log, dir, name, m, byPath, byFold, readBack)
		if err != nil {
			return out, err
		}
		if !mc.OK {
			log.Warn("checksum manifest on the card does not match", "manifest", m, "copy", filepath.Join(name, filepath.FromSlash(m)),
				"checked", mc.Checked, "matched", mc.Matched, "error", mc.Error)
		}
		out = append(out, mc)
	}
	return out, nil
}

func checkManifest(ctx context.Context, log *slog.Logger, dir *safefs.Dir, name, m string, byPath, byFold map[string]*FileResult, readBack map[string]map[ascmhl.Format]string) (ManifestCheck, error) {
	mc := ManifestCheck{File: m}
	data, err := dir.ReadFile(m, MaxManifestSize)
	if err != nil {
		mc.Error = fmt.Sprintf("read %s: %v", m, err)
		return mc, nil
	}
	lines := parseManifest(data, strings.ToLower(path.Ext(m)))
	formats := map[ascmhl.Format]bool{}
	mismatch := func(p, reason string) {
		if len(mc.Mismatches) < MaxManifestMismatches {
			mc.Mismatches = append(mc.Mismatches, ManifestMismatch{Path: p, Reason: reason})
		}
	}
	nBad := 0
	// Digests not computed while copying, read back from the destination.
	type want struct {
		l  manifestLine
		fr *FileResult
	}
	var pending []want
	need := map[string][]ascmhl.Format{}
	for _, l := range lines {
		mc.Checked++
		if l.err != "" {
			nBad++
			mismatch(fmt.Sprintf("%s:%d", m, l.n), l.err)
			continue
		}
		formats[l.format] = true
		rel, ok := resolveManifestPath(m, l.name)
		if !ok {
			nBad++
			mismatch(l.name, fmt.Sprintf("line %d: path outside the card", l.n))
			continue
		}
		fr := byPath[rel]
		if fr == nil {
			fr = byFold[strings.ToLower(rel)]
		}
		if fr == nil {
			nBad++
			mismatch(rel, fmt.Sprintf("line %d: listed, not on the card (or not copied)", l.n))
			continue
		}
		if _, ok := digestOf(fr, l.format); !ok {
			if _, done := readBack[fr.Path][l.format]; !done && !containsFormat(need[fr.Path], l.format) {
				need[fr.Path] = append(need[fr.Path], l.format)
			}
		}
		pending = append(pending, want{l, fr})
	}
	for p, fs := range need {
		if err := ctx.Err(); err != nil {
			return mc, err
		}
		hs, err := hashCopy(ctx, dir, p, fs)
		if err != nil {
			if ctx.Err() != nil {
				return mc, ctx.Err()
			}
			log.Warn("hash offloaded file for a manifest", "path", filepath.Join(name, filepath.FromSlash(p)), "err", err)
		}
		if readBack[p] == nil {
			readBack[p] = map[ascmhl.Format]string{}
		}
		for _, f := range fs {
			readBack[p][f] = hs[f] // "" when it could not be read: not tried again
		}
	}
	for _, w := range pending {
		got, ok := digestOf(w.fr, w.l.format)
		if !ok {
			got = readBack[w.fr.Path][w.l.format]
			ok = got != ""
		}
		switch {
		case !ok:
			nBad++
			mismatch(w.fr.Path, fmt.Sprintf("line %d: copy could not be read back for %s", w.l.n, w.l.format))
		case got != w.l.digest:
			nBad++
			mismatch(w.fr.Path, fmt.Sprintf("line %d: %s is %s, manifest says %s", w.l.n, w.l.format, got, w.l.digest))
		default:
			mc.Matched++
		}
	}
	var names []string
	for f := range formats {
		names = append(names, string(f))
	}
	sort.Strings(names)
	mc.Format = strings.Join(names, "+")
	mc.OK = nBad == 0 && mc.Checked > 0
	if mc.Checked == 0 {
		mc.Error = "no checksum lines"
	}
	return mc, nil
}

// digestOf returns a digest computed while the file was copied.
func digestOf(fr *FileResult, f ascmhl.Format) (string, bool) {
	if f == ascmhl.XXH128 && fr.XXH128 != "" {
		return fr.XXH128, true
	}
	v, ok := fr.MHL[f]
	return v, ok
}

// hashCopy hashes the offloaded copy of rel (a regular file, opened
// without following symlinks) with formats.
func hashCopy(ctx context.Context, dir *safefs.Dir, rel string, formats []ascmhl.Format) (map[ascmhl.Format]string, error) {
	fh, _, err := dir.OpenRegular(rel)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return ascmhl.HashReader(ctx, fh, formats)
}
