package cards

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// CameraMeta is what a camera wrote about a clip in its sidecar XML: a
// clip record's meta (storage.ClipMeta), with the parsers and methods below.
type CameraMeta storage.ClipMeta

// Record is the asset's camera field for these sidecar facts
// (storage.ClipMeta.Camera).
func (m *CameraMeta) Record() *storage.Camera { return (*storage.ClipMeta)(m).Camera() }

// Apply copies the sidecar's camera facts into probed media metadata,
// keeping what the probe already found (storage.Camera.FillMedia).
func (m *CameraMeta) Apply(media *storage.Media) { m.Record().FillMedia(media) }

// ParseSidecar reads a camera XML sidecar, choosing the parser by its root
// element: Sony NonRealTimeMeta, Panasonic P2Main, else a generic reader
// that picks the usual element names (Canon and others). It reads only a
// regular file (no symlink, FIFO or device) of at most MaxSidecarSize.
func ParseSidecar(path string) (*CameraMeta, error) {
	data, err := readSmallFile(path, MaxSidecarSize)
	if err != nil {
		return nil, fmt.Errorf("read sidecar %s: %w", path, err)
	}
	var m *CameraMeta
	switch rootElement(data) {
	case "NonRealTimeMeta":
		m, err = ParseNRT(data)
	case "P2Main":
		m, err = ParseP2Clip(data)
	default:
		m, err = parseGeneric(data)
	}
	if err != nil {
		return nil, fmt.Errorf("parse sidecar %s: %w", path, err)
	}
	return m, nil
}

func rootElement(data []byte) string {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local
		}
	}
}

type nrtXML struct {
	Duration struct {
		Value int64 `xml:"value,attr"`
	} `xml:"Duration"`
	Ltc struct {
		FPS      string `xml:"tcFps,attr"`
		HalfStep string `xml:"halfStep,attr"`
		Changes  []struct {
			FrameCount int64  `xml:"frameCount,attr"`
			Value      string `xml:"value,attr"`
			Status     string `xml:"status,attr"`
		} `xml:"LtcChange"`
	} `xml:"LtcChangeTable"`
	CreationDate struct {
		Value string `xml:"value,attr"`
	} `xml:"CreationDate"`
	VideoFrame struct {
		Codec      string `xml:"videoCodec,attr"`
		CaptureFps string `xml:"captureFps,attr"`
		FormatFps  string `xml:"formatFps,attr"`
	} `xml:"VideoFormat>VideoFrame"`
	Device struct {
		Manufacturer string `xml:"manufacturer,attr"`
		Model        string `xml:"modelName,attr"`
		Serial       string `xml:"serialNo,attr"`
	} `xml:"Device"`
	Target struct {
		UMID string `xml:"umidRef,attr"`
	} `xml:"TargetMaterial"`
}

// ParseNRT reads a Sony NonRealTimeMeta (XAVC/XDCAM M01.XML) document.
func ParseNRT(data []byte) (*CameraMeta, error) {
	var x nrtXML
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("decode NonRealTimeMeta: %w", err)
	}
	m := &CameraMeta{
		Source: "sony_nrt", Manufacturer: x.Device.Manufacturer, Model: x.Device.Model, Serial: x.Device.Serial,
		CreationDate: parseXMLTime(x.CreationDate.Value), Duration: x.Duration.Value,
		TimecodeFPS: x.Ltc.FPS, CaptureFPS: x.VideoFrame.CaptureFps, VideoCodec: x.VideoFrame.Codec,
		GlobalClipID: x.Target.UMID,
	}
	for _, c := range x.Ltc.Changes {
		if c.FrameCount == 0 {
			tc, df, err := DecodeSonyLTC(c.Value)
			if err != nil {
				return nil, err
			}
			m.StartTimecode, m.DropFrame = tc, df
			break
		}
	}
	return m, nil
}

// DecodeSonyLTC decodes an NRT LtcChange value: four BCD bytes written as
// hex, frames first (FFSSMMHH), with the SMPTE 12M flag bits (drop frame
// 0x40 and colour frame 0x80 in the frames byte, the binary group flags in
// the other bytes) masked off.
func DecodeSonyLTC(v string) (tc string, dropFrame bool, err error) {
	if len(v) != 8 {
		return "", false, fmt.Errorf("ltc value %q: want 8 hex digits", v)
	}
	var b [4]byte
	for i := range b {
		n, err := strconv.ParseUint(v[2*i:2*i+2], 16, 8)
		if err != nil {
			return "", false, fmt.Errorf("ltc value %q: %w", v, err)
		}
		b[i] = byte(n)
	}
	bad := false
	bcd := func(x byte) int {
		if x&0x0f > 9 || x>>4 > 9 {
			bad = true
		}
		return int(x>>4)*10 + int(x&0x0f)
	}
	ff, ss, mm, hh := bcd(b[0]&0x3f), bcd(b[1]&0x7f), bcd(b[2]&0x7f), bcd(b[3]&0x3f)
	if bad || ff > 59 || ss > 59 || mm > 59 || hh > 23 {
		return "", false, fmt.Errorf("ltc value %q: not a timecode", v)
	}
	df := b[0]&0x40 != 0
	sep := ":"
	if df {
		sep = ";"
	}
	return fmt.Sprintf("%02d:%02d:%02d%s%02d", hh, mm, ss, sep, ff), df, nil
}

type p2XML struct {
	Clip struct {
		ClipName     string `xml:"ClipName"`
		GlobalClipID string `xml:"GlobalClipID"`
		Duration     int64  `xml:"Duration"`
		EditUnit     string `xml:"EditUnit"`
		Video        struct {
			Codec         string `xml:"Codec"`
			FrameRate     string `xml:"FrameRate"`
			StartTimecode string `xml:"StartTimecode"`
		} `xml:"EssenceList>Video"`
		Audio []struct {
			Format string `xml:"AudioFormat"`
		} `xml:"EssenceList>Audio"`
		Meta struct {
			CreationDate string `xml:"Access>CreationDate"`
			Manufacturer string `xml:"Device>Manufacturer"`
			Serial       string `xml:"Device>SerialNo."`
			Model        string `xml:"Device>ModelName"`
			StartDate    string `xml:"Shoot>StartDate"`
		} `xml:"ClipMetadata"`
		Relation struct {
			OffsetInShot int64  `xml:"OffsetInShot"`
			GlobalShotID string `xml:"GlobalShotID"`
			// The neighbouring spans of a shot recorded over several
			// clips (and cards).
			Previous string `xml:"Connection>Previous>GlobalClipID"`
			Next     string `xml:"Connection>Next>GlobalClipID"`
		} `xml:"Relation"`
	} `xml:"ClipContent"`
}

// ParseP2Clip reads a Panasonic P2 CLIP XML (CONTENTS/CLIP/<clip>.XML). The
// essence files follow P2's naming: VIDEO/<clip>.MXF and one
// AUDIO/<clip>NN.MXF per audio channel.
func ParseP2Clip(data []byte) (*CameraMeta, error) {
	var x p2XML
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("decode P2Main: %w", err)
	}
	c := x.Clip
	if c.ClipName == "" {
		return nil, fmt.Errorf("P2 clip xml without ClipName")
	}
	m := &CameraMeta{
		Source: "p2_clip", ClipName: c.ClipName, GlobalClipID: c.GlobalClipID, Duration: c.Duration, EditUnit: c.EditUnit,
		Manufacturer: c.Meta.Manufacturer, Model: c.Meta.Model, Serial: c.Meta.Serial,
		CreationDate: parseXMLTime(c.Meta.CreationDate), StartTimecode: c.Video.StartTimecode,
		DropFrame: strings.Contains(c.Video.StartTimecode, ";"), CaptureFPS: c.Video.FrameRate, VideoCodec: c.Video.Codec,
		GlobalShotID: c.Relation.GlobalShotID, OffsetInShot: c.Relation.OffsetInShot,
		PrevClipID: c.Relation.Previous, NextClipID: c.Relation.Next,
	}
	if m.CreationDate.IsZero() {
		m.CreationDate = parseXMLTime(c.Meta.StartDate)
	}
	if c.Video.Codec != "" || c.Video.StartTimecode != "" {
		m.VideoFiles = []string{c.ClipName + ".MXF"}
	}
	for i := range c.Audio {
		m.AudioFiles = append(m.AudioFiles, fmt.Sprintf("%s%02d.MXF", c.ClipName, i))
	}
	return m, nil
}

// parseGeneric reads any other camera XML (Canon XF-AVC/Cinema RAW Light
// clip XML and the like) by the element and attribute names cameras use
// for the same facts.
func parseGeneric(data []byte) (*CameraMeta, error) {
	m := &CameraMeta{Source: "xml"}
	root := rootElement(data)
	if root == "" {
		return nil, fmt.Errorf("not an xml document")
	}
	if strings.Contains(strings.ToLower(string(data)), "canon") {
		m.Source = "canon_xml"
	}
	set := func(key, val string) {
		val = strings.TrimSpace(val)
		if val == "" {
			return
		}
		switch strings.ToLower(key) {
		case "manufacturer", "maker", "make":
			if m.Manufacturer == "" {
				m.Manufacturer = val
			}
		case "modelname", "model", "cameramodel":
			if m.Model == "" {
				m.Model = val
			}
		case "serialno", "serialno.", "serialnumber", "serial":
			if m.Serial == "" {
				m.Serial = val
			}
		case "creationdate", "createdate", "recordingdate", "startdate":
			if m.CreationDate.IsZero() {
				m.CreationDate = parseXMLTime(val)
			}
		case "starttimecode", "timecode", "starttc", "tcstart":
			if m.StartTimecode == "" && strings.Count(val, ":")+strings.Count(val, ";") == 3 {
				m.StartTimecode, m.DropFrame = val, strings.Contains(val, ";")
			}
		case "clipname":
			if m.ClipName == "" {
				m.ClipName = val
			}
		case "duration":
			if m.Duration == 0 {
				m.Duration, _ = strconv.ParseInt(val, 10, 64)
			}
		}
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			for _, a := range t.Attr {
				set(a.Name.Local, a.Value)
				if strings.EqualFold(a.Name.Local, "value") {
					set(t.Name.Local, a.Value)
				}
			}
		case xml.CharData:
			if len(stack) > 0 {
				set(stack[len(stack)-1], string(t))
			}
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	return m, nil
}

func parseXMLTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
