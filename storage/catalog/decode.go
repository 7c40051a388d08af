package catalog

import (
	"encoding/json"
	"math"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// decodeLocation decodes a location record for the key volume\x00path.
// Volume and Path are taken from the key, not the value: the key holds the
// name's exact bytes (the value's path_b64 holds them too, but its path
// replaces invalid UTF-8, a Latin-1 name from an SMB share say, with
// U+FFFD).
//
// The reconcile walk decodes every location of a volume on every rescan,
// and encoding/json is most of that cost, so records in the flat shape this
// package writes (no history, no escapes in the decoded strings) are
// decoded by hand; anything else falls back to encoding/json with the same
// result (decode_test.go checks both agree).
func decodeLocation(b []byte, volume, path string, loc *storage.Location) error {
	if len(b) > 0 && b[0] == recBinary {
		if err := binaryLocation(b[1:], loc); err != nil {
			return err
		}
	} else if !fastLocation(b, loc) {
		*loc = storage.Location{}
		if err := json.Unmarshal(b, loc); err != nil {
			return err
		}
	}
	loc.Volume, loc.Path = volume, path
	return nil
}

// fastLocation decodes the flat form of a location; false means "use
// encoding/json".
func fastLocation(b []byte, loc *storage.Location) bool {
	*loc = storage.Location{}
	p := jsonScanner{b: b}
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return p.end()
	}
	for {
		raw, ok := p.rawString()
		if !ok || !p.byte(':') {
			return false
		}
		key := raw[1 : len(raw)-1]
		switch string(key) { // compared without allocating
		case "volume", "path", "path_b64": // taken from the key
			if !p.skipString() {
				return false
			}
		case "asset_id":
			if loc.AssetID, ok = p.plainString(); !ok {
				return false
			}
		case "replaced_by":
			if loc.ReplacedBy, ok = p.plainString(); !ok {
				return false
			}
		case "state":
			s, ok := p.plainString()
			if !ok {
				return false
			}
			switch s { // no allocation for the two known states
			case storage.LocPresent:
				loc.State = storage.LocPresent
			case storage.LocRemoved:
				loc.State = storage.LocRemoved
			default:
				loc.State = s
			}
		case "size":
			neg := p.byte('-')
			v, ok := p.uint()
			if !ok || v > 1<<63-1 {
				return false
			}
			loc.Size = int64(v)
			if neg {
				loc.Size = -loc.Size
			}
		case "inode", "dev":
			v, ok := p.uint()
			if !ok {
				return false
			}
			if string(key) == "inode" {
				loc.Inode = v
			} else {
				loc.Dev = v
			}
		case "mtime", "seen", "removed":
			raw, ok := p.rawString()
			if !ok {
				return false
			}
			var t time.Time
			if t.UnmarshalJSON(raw) != nil {
				return false
			}
			switch string(key) {
			case "mtime":
				loc.MTime = t
			case "seen":
				loc.Seen = t
			default:
				loc.Removed = t
			}
		default: // history, or a field this decoder does not know
			return false
		}
		if p.byte(',') {
			continue
		}
		return p.byte('}') && p.end()
	}
}

// jsonScanner reads the compact JSON that encoding/json writes.
type jsonScanner struct {
	b []byte
	i int
}

func (p *jsonScanner) end() bool { return p.i == len(p.b) }

func (p *jsonScanner) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// rawString returns a string token with its quotes, if it has no escapes.
func (p *jsonScanner) rawString() ([]byte, bool) {
	start := p.i
	if !p.byte('"') {
		return nil, false
	}
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return p.b[start:p.i], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// plainString returns the contents of a string token without escapes.
func (p *jsonScanner) plainString() (string, bool) {
	raw, ok := p.rawString()
	if !ok {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// skipString passes over a string token, escapes included.
func (p *jsonScanner) skipString() bool {
	if !p.byte('"') {
		return false
	}
	for ; p.i < len(p.b); p.i++ {
		switch p.b[p.i] {
		case '\\':
			p.i++
		case '"':
			p.i++
			return true
		}
	}
	return false
}

// uint parses a non-negative integer token; false on overflow or a
// fraction or exponent (left to encoding/json).
func (p *jsonScanner) uint() (uint64, bool) {
	start := p.i
	var v uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
		p.i++
	}
	if p.i == start || p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	return v, true
}
