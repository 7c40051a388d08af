package cards

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/ingestd/ingestd/storage"
)

var rePlaceholder = regexp.MustCompile(`\{[^{}]*\}`)

// DestPath expands the cards.path template (e.g. "{date}/{label}") into a
// slash-separated folder relative to the offload volume. Placeholders:
// {date} (YYYY-MM-DD), {time} (HHMMSS), {label} (DisplayLabel), {layout},
// {uuid}, {fingerprint}. Values are made safe for one path element. An
// unknown placeholder, an absolute result or ".." is an error, so config
// validation can call it with a sample identity.
func DestPath(tmpl string, id Identity, t time.Time) (string, error) {
	vals := map[string]string{
		"date": t.Format("2006-01-02"), "time": t.Format("150405"), "label": id.DisplayLabel(),
		"layout": string(id.Layout), "uuid": id.UUID, "fingerprint": id.Fingerprint,
	}
	var bad []string
	out := rePlaceholder.ReplaceAllStringFunc(tmpl, func(ph string) string {
		v, ok := vals[strings.Trim(ph, "{}")]
		if !ok {
			bad = append(bad, ph)
			return ""
		}
		return safeElem(v)
	})
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

func safeElem(v string) string {
	v = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 {
			return '_'
		}
		return r
	}, strings.TrimSpace(v))
	if v == "" || v == "." || v == ".." {
		return "_"
	}
	return v
}

// Origin is what the catalog keeps about where an offloaded asset came from.
func Origin(id Identity, res Result) storage.OriginInfo {
	return storage.OriginInfo{CardLabel: id.DisplayLabel(), CardLayout: string(res.Layout), OffloadAt: res.Finished}
}
