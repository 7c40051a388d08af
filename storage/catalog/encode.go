package catalog

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ingestd/ingestd/storage"
)

// marshal encodes a record as encoding/json does. A first ingest writes an
// asset, a location and two events per file inside the batch transaction,
// which one goroutine runs for every writer (see Catalog), and
// encoding/json (reflection, then Location's and Event's MarshalJSON
// marshalling again and the outer call compacting the result) was most of
// that time. So the flat records the catalog writes most (events,
// locations without history, assets without stage results) whose strings
// need no escaping are encoded by hand; anything else goes to
// encoding/json. encode_test.go checks both give the same bytes.
func marshal(v any) ([]byte, error) {
	var b []byte
	ok := false
	switch r := v.(type) {
	case storage.Event:
		b, ok = appendEvent(make([]byte, 0, 256), &r)
	case storage.Location:
		b, ok = appendLocation(make([]byte, 0, 320), &r)
	case storage.Asset:
		b, ok = appendAsset(make([]byte, 0, 256), &r)
	}
	if ok {
		return b, nil
	}
	return json.Marshal(v)
}

func appendEvent(b []byte, e *storage.Event) ([]byte, bool) {
	ok := true
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b, ok = appendField(b, ok, "type", e.Type, false)
	b, ok = appendField(b, ok, "asset_id", e.AssetID, true)
	b, ok = appendField(b, ok, "volume", e.Volume, true)
	b, ok = appendField(b, ok, "path", e.Path, true)
	b = append(b, `,"time":`...)
	b, ok = appendTime(b, ok, e.Time)
	b, ok = appendField(b, ok, "detail", e.Detail, true)
	return append(b, '}'), ok
}

func appendLocation(b []byte, l *storage.Location) ([]byte, bool) {
	if len(l.History) > 0 {
		return nil, false
	}
	ok := true
	b = append(b, '{')
	b, ok = appendString(b, ok, "volume", l.Volume)
	b, ok = appendField(b, ok, "path", l.Path, false)
	b, ok = appendField(b, ok, "asset_id", l.AssetID, false)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, l.Size, 10)
	b = append(b, `,"mtime":`...)
	b, ok = appendTime(b, ok, l.MTime)
	b = append(b, `,"inode":`...)
	b = strconv.AppendUint(b, l.Inode, 10)
	b = append(b, `,"dev":`...)
	b = strconv.AppendUint(b, l.Dev, 10)
	b, ok = appendField(b, ok, "state", l.State, false)
	b = append(b, `,"seen":`...)
	b, ok = appendTime(b, ok, l.Seen)
	if !l.Removed.IsZero() {
		b = append(b, `,"removed":`...)
		b, ok = appendTime(b, ok, l.Removed)
	}
	b, ok = appendField(b, ok, "replaced_by", l.ReplacedBy, true)
	return append(b, '}'), ok
}

func appendAsset(b []byte, a *storage.Asset) ([]byte, bool) {
	if a.Kind != "" || a.Media != nil || a.Proxy != nil || a.Sync != nil || a.Origin != nil || a.Camera != nil {
		return nil, false
	}
	ok := true
	b = append(b, '{')
	b, ok = appendString(b, ok, "id", a.ID)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, a.Size, 10)
	b = append(b, `,"hashes":{`...)
	b, ok = appendString(b, ok, "blake3", a.Hashes.BLAKE3)
	b, ok = appendField(b, ok, "xxh128", a.Hashes.XXH128, false)
	b = append(b, `},"first_seen":`...)
	b, ok = appendTime(b, ok, a.FirstSeen)
	return append(b, '}'), ok
}

// appendField appends ,"name":"s" (nothing when omitEmpty and s is empty).
func appendField(b []byte, ok bool, name, s string, omitEmpty bool) ([]byte, bool) {
	if omitEmpty && s == "" {
		return b, ok
	}
	return appendString(append(b, ','), ok, name, s)
}

// appendString appends "name":"s"; ok turns false when s needs escaping
// (or is not valid UTF-8, which also needs path_b64), so the caller falls
// back to encoding/json.
func appendString(b []byte, ok bool, name, s string) ([]byte, bool) {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":"`...)
	return append(append(b, s...), '"'), ok && plain(s)
}

// plain reports whether encoding/json writes s as is: valid UTF-8 without
// control characters, '"', '\\', the HTML characters it escapes (<, >, &)
// or U+2028/U+2029.
func plain(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// appendTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted); ok turns false where MarshalJSON would fail or
// differ (a year outside 0..9999, an offset with seconds).
func appendTime(b []byte, ok bool, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), ok
}
