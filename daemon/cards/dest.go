package cards

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
)

var rePlaceholder = regexp.MustCompile(`\{[^{}]*\}`)

// DestPath expands the cards.path template (e.g. "{date}/{label}") into a
// slash-separated folder relative to the offload volume. Placeholders:
// {date} (YYYY-MM-DD), {time} (HHMMSS), {label} (DisplayLabel), {layout},
// {uuid}, {fingerprint}. Values are made safe for one path element the
// catalog sees (see safeElem: a label ".hidden" gives "hidden"). An
// unknown placeholder, an absolute result or ".." is an error, so config
// validation can call it with a sample identity.
func DestPath(tmpl string, id Identity, t time.Time) (string, error) {
	vals := map[string]string{
		"date": t.Format("2006-01-02"), "time": t.Format("150405"), "label": id.DisplayLabel(),
		"layout": string(id.Layout), "uuid": id.UUID, "fingerprint": id.Fingerprint,
	}
	var bad []string
	els := strings.Split(tmpl, "/")
	for i, el := range els {
		exp := rePlaceholder.ReplaceAllStringFunc(el, func(ph string) string {
			v, ok := vals[strings.Trim(ph, "{}")]
			if !ok {
				bad = append(bad, ph)
				return ""
			}
			return safeElem(v)
		})
		if exp != "" && exp != "." && exp != ".." && builtinIgnored(exp) {
			if exp == el {
				return "", fmt.Errorf("cards path %q: folder %q is skipped by the catalog's built-in ignore rules", tmpl, el)
			}
			exp = unignore(exp)
		}
		els[i] = exp
	}
	out := strings.Join(els, "/")
	if len(bad) > 0 {
		return "", fmt.Errorf("cards path %q: unknown placeholder %s", tmpl, strings.Join(bad, ", "))
	}
	if strings.HasPrefix(out, "/") {
		return "", fmt.Errorf("cards path %q: must be relative to the volume", tmpl)
	}
	out = path.Clean(out)
	if out == "." || out == ".." || strings.HasPrefix(out, "../") {
		return "", fmt.Errorf("cards path %q: expands to %q, outside the volume", tmpl, out)
	}
	return out, nil
}

// safeElem makes v one path element the catalog sees: no "/" or "\\",
// no control characters, no leading "." (dot names are never cataloged),
// and nothing else the built-in ignore rules of every volume skip ("@eaDir",
// "#recycle", "*.part", ...): such a name gets a "_" in front. Empty, "."
// and ".." become "_".
func safeElem(v string) string {
	v = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return '_'
		}
		return r
	}, strings.TrimSpace(v))
	v = strings.TrimLeft(v, ".")
	if v == "" {
		return "_"
	}
	return unignore(v)
}

// unignore changes a name the built-in rules skip into one they do not.
func unignore(v string) string {
	if !builtinIgnored(v) {
		return v
	}
	v = "_" + v
	for builtinIgnored(v) {
		v += "_" // a skipped suffix (".part"): break it
	}
	return v
}

// builtinIgnored reports whether the built-in rules of a volume's walk
// and watcher (daemon/watch) skip a file or folder named name.
func builtinIgnored(name string) bool {
	return (*watch.Ignore)(nil).Match(name, name)
}

// Origin is what the catalog keeps about where an offloaded asset came from.
func Origin(id Identity, res Result) storage.OriginInfo {
	return storage.OriginInfo{CardLabel: id.DisplayLabel(), CardLayout: string(res.Layout), OffloadAt: res.Finished}
}
