package catalog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// Record encoding. The records a first ingest writes per file (the asset,
// the location and two events) are most of the bytes Badger writes, flushes
// and compacts again and again (issue 15), so they are stored in a compact
// binary form rather than JSON: content ids as their bytes, numbers as
// varints, times as seconds and nanoseconds, event types as a code, and the
// parts a key already holds (an asset's id, a location's volume and path,
// an event's seq) left out. About a third of the JSON's size.
//
// A binary value starts with recBinary (0x01). Values written before it
// are JSON and start with '{'; both are read (decodeAsset, decodeLocation,
// decodeEvent), so a catalog of an older version opens as it is and its
// records are rewritten in the new form only as they change. A catalog
// written by this version cannot be read by an older one.
//
// Layouts (each after the leading recBinary byte; "id" is a content id:
// uvarint n<<1|1 then the n bytes of an even-length lowercase hex string,
// or uvarint len<<1 then the string as is; "str" is uvarint length then
// bytes; "time" is 0 for the zero time, else 1 (UTC) or 2 then the zone
// offset in seconds as a varint, then Unix seconds (varint) and
// nanoseconds (uvarint)):
//
//	event    (in an e/ value)    type code (uvarint; 0: then the type as str),
//	                             asset id (id), volume (str), path (str),
//	                             time, detail (str)
//	location (key l/ or r/)      asset id (id), size (varint), mtime (time),
//	                             inode, dev (uvarint), state code (uvarint;
//	                             0: then the state as str), seen, removed
//	                             (time), replaced_by (id), history count
//	                             (uvarint) then per version: asset id (id),
//	                             size (varint), mtime, replaced (time)
//	asset    (key a/<id>)        flags (uvarint; bit 0: hashes.blake3 differs
//	                             from the id and follows), size (varint),
//	                             [blake3 (id)], xxh128 (id), first_seen (time),
//	                             then the rest of the asset (kind, media,
//	                             proxy, ...: assetTail) as a JSON object, or
//	                             nothing when all of it is empty
//
// The events of one transaction are one value (an event block: recBlock,
// then the number of events n >= 1 as a uvarint, then each event's form as
// above, after its length as a uvarint) under e/<seq of the first>; the
// i-th event of the block has seq first+i. A key may also hold one event
// alone: JSON (older catalogs) or recBinary then its form. So a first
// ingest writes one event key per transaction, not two per file.
//
// The codes below are part of the format: append, never renumber.
const (
	recBinary byte = 0x01
	recBlock  byte = 0x02
)

// maxBlockEvents bounds the count a block may claim (a transaction holds
// far fewer), so a damaged value cannot make a reader allocate or loop on
// it.
const maxBlockEvents = 1 << 20

var eventTypeCodes = []string{
	1:  "asset.cataloged",
	2:  "asset.updated",
	3:  "location.added",
	4:  "location.changed",
	5:  "location.removed",
	6:  "location.corrupt",
	7:  "volume.offline",
	8:  "volume.online",
	9:  "proxy.ready",
	10: "proxy.failed",
	11: "asset.synced",
	12: "card.offloaded",
	13: "card.failed",
	14: "card.safe",
	15: "appliance.started",
	16: "disk.low",
	17: "disk.ok",
	18: "analysis.ready",
	19: "analysis.failed",
	20: "card.report_ready",
	21: "clip.proxy_ready",
	22: "sequence.updated",
	23: "sequence.removed",
	24: "sequence.proxy_ready",
	25: "sequence.proxy_failed",
}

var stateCodes = []string{1: storage.LocPresent, 2: storage.LocRemoved}

// codeOf is the index of s in codes (0: none).
func codeOf(codes []string, s string) uint64 {
	for i := 1; i < len(codes); i++ {
		if codes[i] == s {
			return uint64(i)
		}
	}
	return 0
}

// assetTail is the part of storage.Asset after its fixed fields, kept as
// JSON in the binary form (it is small, rare on a first ingest, and its
// shape changes with the stages). TestAssetTailCoversAsset checks it names
// every other field of storage.Asset with the same JSON tag.
type assetTail struct {
	Kind     string                `json:"kind,omitempty"`
	Media    *storage.Media        `json:"media,omitempty"`
	Proxy    *storage.ProxyInfo    `json:"proxy,omitempty"`
	Sync     *storage.SyncInfo     `json:"sync,omitempty"`
	Origin   *storage.OriginInfo   `json:"origin,omitempty"`
	Camera   *storage.Camera       `json:"camera,omitempty"`
	Analysis *storage.AnalysisInfo `json:"analysis,omitempty"`
}

func (t *assetTail) empty() bool { return *t == assetTail{} }

// errRecord is a binary record that does not decode.
var errRecord = errors.New("malformed record")

// recEnc appends the binary form.
type recEnc struct {
	b   []byte
	err error // the first time that JSON could not hold either
}

func (e *recEnc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *recEnc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *recEnc) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *recEnc) code(codes []string, s string) {
	if c := codeOf(codes, s); c != 0 {
		e.uvarint(c)
		return
	}
	e.uvarint(0)
	e.str(s)
}

func (e *recEnc) id(s string) {
	if len(s) > 0 && len(s)%2 == 0 && lowerHex(s) {
		e.uvarint(uint64(len(s)/2)<<1 | 1)
		for i := 0; i < len(s); i += 2 {
			e.b = append(e.b, unhex(s[i])<<4|unhex(s[i+1]))
		}
		return
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

// tim stores t. A time JSON cannot hold (a year outside 0..9999, a zone
// offset of a day or more) is refused as encoding/json refused it before.
func (e *recEnc) tim(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	_, off := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || off <= -24*3600 || off >= 24*3600 {
		if e.err == nil {
			e.err = fmt.Errorf("time %s cannot be stored", t)
		}
	}
	if off == 0 {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 2)
		e.varint(int64(off))
	}
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// appendEventBody appends the binary form of e, without the leading tag,
// to b (its Seq is the key, or its place in a block).
func appendEventBody(b []byte, e *storage.Event) ([]byte, error) {
	w := recEnc{b: b}
	w.code(eventTypeCodes, e.Type)
	w.id(e.AssetID)
	w.str(e.Volume)
	w.str(e.Path)
	w.tim(e.Time)
	w.str(e.Detail)
	return w.b, w.err
}

// encodeLocation is the binary form of l (its volume and path are the key).
func encodeLocation(l *storage.Location) ([]byte, error) {
	w := recEnc{b: make([]byte, 0, 80+len(l.History)*40)}
	w.b = append(w.b, recBinary)
	w.id(l.AssetID)
	w.varint(l.Size)
	w.tim(l.MTime)
	w.uvarint(l.Inode)
	w.uvarint(l.Dev)
	w.code(stateCodes, l.State)
	w.tim(l.Seen)
	w.tim(l.Removed)
	w.id(l.ReplacedBy)
	w.uvarint(uint64(len(l.History)))
	for _, v := range l.History {
		w.id(v.AssetID)
		w.varint(v.Size)
		w.tim(v.MTime)
		w.tim(v.Replaced)
	}
	return w.b, w.err
}

// encodeAsset is the binary form of a (its id is the key).
func encodeAsset(a *storage.Asset) ([]byte, error) {
	w := recEnc{b: make([]byte, 0, 64)}
	w.b = append(w.b, recBinary)
	var flags uint64
	if a.Hashes.BLAKE3 != a.ID {
		flags |= 1
	}
	w.uvarint(flags)
	w.varint(a.Size)
	if flags&1 != 0 {
		w.id(a.Hashes.BLAKE3)
	}
	w.id(a.Hashes.XXH128)
	w.tim(a.FirstSeen)
	tail := assetTail{Kind: a.Kind, Media: a.Media, Proxy: a.Proxy, Sync: a.Sync,
		Origin: a.Origin, Camera: a.Camera, Analysis: a.Analysis}
	if !tail.empty() {
		j, err := json.Marshal(tail)
		if err != nil {
			return nil, err
		}
		w.b = append(w.b, j...)
	}
	return w.b, w.err
}

// recDec reads the binary form; any read past the end or bad value sets bad.
type recDec struct {
	b   []byte
	bad bool
}

func (d *recDec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recDec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recDec) take(n uint64) []byte {
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *recDec) str() string { return string(d.take(d.uvarint())) }

func (d *recDec) code(codes []string) string {
	c := d.uvarint()
	if c == 0 {
		return d.str()
	}
	if c >= uint64(len(codes)) {
		d.bad = true
		return ""
	}
	return codes[c]
}

const hexDigits = "0123456789abcdef"

func (d *recDec) id() string {
	v := d.uvarint()
	b := d.take(v >> 1)
	if v&1 == 0 {
		return string(b)
	}
	if len(b) == 0 {
		d.bad = true // the hex form is never empty
		return ""
	}
	h := make([]byte, 2*len(b))
	for i, c := range b {
		h[2*i], h[2*i+1] = hexDigits[c>>4], hexDigits[c&15]
	}
	return string(h)
}

func (d *recDec) tim() time.Time {
	if len(d.b) == 0 {
		d.bad = true
		return time.Time{}
	}
	kind := d.b[0]
	d.b = d.b[1:]
	var loc *time.Location
	switch kind {
	case 0:
		return time.Time{}
	case 1:
		loc = time.UTC
	case 2:
		off := d.varint()
		if off == 0 || off <= -24*3600 || off >= 24*3600 {
			d.bad = true
			return time.Time{}
		}
		loc = time.FixedZone("", int(off))
	default:
		d.bad = true
		return time.Time{}
	}
	sec, ns := d.varint(), d.uvarint()
	if ns >= 1e9 {
		d.bad = true
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).In(loc)
}

// done reports a whole, well-formed record.
func (d *recDec) done() error {
	if d.bad || len(d.b) != 0 {
		return errRecord
	}
	return nil
}

// eventBlock collects the events of a transaction into one e/ value.
type eventBlock struct {
	first uint64 // seq of the first event
	n     int
	body  []byte // each event's length and form
}

// add appends event e, whose seq must follow the block's last.
func (k *eventBlock) add(e *storage.Event) error {
	if k.n == 0 {
		k.first = e.Seq
	} else if e.Seq != k.first+uint64(k.n) {
		return fmt.Errorf("event %d does not follow event %d", e.Seq, k.first+uint64(k.n)-1)
	}
	at := len(k.body)
	k.body = append(k.body, make([]byte, binary.MaxVarintLen32)...) // room for the length
	b, err := appendEventBody(k.body, e)
	if err != nil {
		k.body = k.body[:at]
		return err
	}
	// Move the form up behind its actual length.
	n := len(b) - at - binary.MaxVarintLen32
	l := binary.PutUvarint(b[at:], uint64(n))
	copy(b[at+l:], b[at+binary.MaxVarintLen32:])
	k.body = b[:at+l+n]
	k.n++
	return nil
}

// value is the block's e/ value.
func (k *eventBlock) value() []byte {
	v := make([]byte, 0, 1+binary.MaxVarintLen64+len(k.body))
	v = append(v, recBlock)
	v = binary.AppendUvarint(v, uint64(k.n))
	return append(v, k.body...)
}

// eventCount is how many events the e/ value b holds (its last has seq
// key+count-1).
func eventCount(b []byte) (uint64, error) {
	if len(b) == 0 || b[0] != recBlock {
		return 1, nil
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n == 0 || n > maxBlockEvents {
		return 0, errRecord
	}
	return n, nil
}

// decodeEvents calls fn, in seq order, with each event of the e/ value b
// stored under key seq first whose seq is at least from, until fn returns
// false. Events before from are skipped without decoding.
func decodeEvents(b []byte, first, from uint64, fn func(storage.Event) bool) error {
	if len(b) == 0 || b[0] != recBlock {
		if first < from {
			return nil
		}
		var e storage.Event
		if err := decodeEvent(b, first, &e); err != nil {
			return err
		}
		fn(e)
		return nil
	}
	n, err := eventCount(b)
	if err != nil {
		return err
	}
	d := recDec{b: b[1:]}
	d.uvarint()
	for i := uint64(0); i < n; i++ {
		body := d.take(d.uvarint())
		if d.bad {
			return errRecord
		}
		seq := first + i
		if seq < from {
			continue
		}
		var e storage.Event
		if err := eventBody(body, seq, &e); err != nil {
			return err
		}
		if !fn(e) {
			return nil
		}
	}
	if len(d.b) != 0 {
		return errRecord
	}
	return nil
}

// decodeEvent decodes one event stored alone under seq (JSON or binary).
func decodeEvent(b []byte, seq uint64, e *storage.Event) error {
	*e = storage.Event{}
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, e); err != nil {
			return err
		}
		e.Seq = seq
		return nil
	}
	if len(b) == 0 || b[0] != recBinary {
		return errRecord
	}
	return eventBody(b[1:], seq, e)
}

// eventBody decodes the binary form of an event (after its tag or length).
func eventBody(b []byte, seq uint64, e *storage.Event) error {
	*e = storage.Event{}
	d := recDec{b: b}
	e.Seq = seq
	e.Type = d.code(eventTypeCodes)
	e.AssetID = d.id()
	e.Volume = d.str()
	e.Path = d.str()
	e.Time = d.tim()
	e.Detail = d.str()
	return d.done()
}

// binaryLocation decodes the binary form of a location (after recBinary).
func binaryLocation(b []byte, loc *storage.Location) error {
	d := recDec{b: b}
	*loc = storage.Location{}
	loc.AssetID = d.id()
	loc.Size = d.varint()
	loc.MTime = d.tim()
	loc.Inode = d.uvarint()
	loc.Dev = d.uvarint()
	loc.State = d.code(stateCodes)
	loc.Seen = d.tim()
	loc.Removed = d.tim()
	loc.ReplacedBy = d.id()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each version takes at least a byte
		return errRecord
	}
	if n > 0 {
		loc.History = make([]storage.Version, n)
		for i := range loc.History {
			v := &loc.History[i]
			v.AssetID = d.id()
			v.Size = d.varint()
			v.MTime = d.tim()
			v.Replaced = d.tim()
		}
	}
	return d.done()
}

// decodeAsset decodes the asset stored under id.
func decodeAsset(b []byte, id string, a *storage.Asset) error {
	*a = storage.Asset{}
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, a)
	}
	if len(b) == 0 || b[0] != recBinary {
		return errRecord
	}
	d := recDec{b: b[1:]}
	flags := d.uvarint()
	a.ID = id
	a.Size = d.varint()
	a.Hashes.BLAKE3 = id
	if flags&1 != 0 {
		a.Hashes.BLAKE3 = d.id()
	}
	a.Hashes.XXH128 = d.id()
	a.FirstSeen = d.tim()
	if d.bad || flags > 1 {
		return errRecord
	}
	if len(d.b) > 0 {
		var t assetTail
		if err := json.Unmarshal(d.b, &t); err != nil {
			return fmt.Errorf("%w: %w", errRecord, err)
		}
		a.Kind, a.Media, a.Proxy, a.Sync = t.Kind, t.Media, t.Proxy, t.Sync
		a.Origin, a.Camera, a.Analysis = t.Origin, t.Camera, t.Analysis
	}
	return nil
}
