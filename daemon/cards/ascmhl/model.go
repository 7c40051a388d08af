package ascmhl

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// Hash actions as the reference writes them.
const (
	ActionOriginal = "original" // first time this file was hashed in the history
	ActionVerified = "verified" // hashed again and equal to the earlier record
	ActionFailed   = "failed"   // hashed again and different
)

// Process types.
const (
	ProcessInPlace  = "in-place"
	ProcessTransfer = "transfer"
	ProcessFlatten  = "flatten"
)

// DefaultIgnore are the patterns the reference writes into a new history.
var DefaultIgnore = []string{".DS_Store", "ascmhl", "ascmhl/"}

// HashValue is one digest of a file or directory.
type HashValue struct {
	Format    Format
	Value     string    // encoded digest (content hash for directories)
	Structure string    // directories only: the structure hash
	Action    string    // files: original | verified | failed ("" for directories)
	Date      time.Time // hashdate
}

// Entry is a <hash> (file) or <directoryhash> element of a generation.
type Entry struct {
	Path         string // slash-separated, relative to the history root
	IsDir        bool
	Size         int64 // files only
	ModTime      time.Time
	Hashes       []HashValue // in XSD order
	PreviousPath string
}

// Hash returns the entry's value in format f.
func (e *Entry) Hash(f Format) (HashValue, bool) {
	for _, h := range e.Hashes {
		if h.Format == f {
			return h, true
		}
	}
	return HashValue{}, false
}

// Author is an optional <author> of the creator info.
type Author struct {
	Name, Email, Phone, Role string
}

// Generation is one .mhl file of a history.
type Generation struct {
	Number   int    // sequence number (1-based)
	FileName string // e.g. 0001_A002R2EC_2020-01-16_091500Z.mhl

	CreationDate time.Time
	HostName     string
	ToolName     string
	ToolVersion  string
	Authors      []Author
	Location     string
	Comment      string

	Process  string     // in-place | transfer | flatten
	RootHash *Entry     // directory hash of the root, nil when not written
	Ignore   []string   // ignore patterns
	Entries  []Entry    // files and directories, post-order as the reference writes them
	Refs     []ChildRef // <references> to nested histories (read only)
}

// ChildRef is a <hashlistreference> to a nested history's generation.
type ChildRef struct {
	Path string
	C4   string
}

// Entry returns the file or directory entry at path.
func (g *Generation) Entry(path string) (*Entry, bool) {
	for i := range g.Entries {
		if g.Entries[i].Path == path {
			return &g.Entries[i], true
		}
	}
	return nil, false
}

// xmlTime writes times as the reference does: ISO 8601 with a numeric
// offset (we always write UTC, "+00:00").
func xmlTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05-07:00")
}

func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Marshal renders g as an ASC MHL v2 XML document laid out like the
// reference implementation's output.
func (g *Generation) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<hashlist version=\"2.0\" xmlns=\"urn:ASC:MHL:v2.0\">\n")
	b.WriteString("  <creatorinfo>\n")
	fmt.Fprintf(&b, "    <creationdate>%s</creationdate>\n", xmlTime(g.CreationDate))
	fmt.Fprintf(&b, "    <hostname>%s</hostname>\n", esc(g.HostName))
	fmt.Fprintf(&b, "    <tool version=\"%s\">%s</tool>\n", esc(g.ToolVersion), esc(g.ToolName))
	for _, a := range g.Authors {
		b.WriteString("    <author")
		for _, kv := range [][2]string{{"role", a.Role}, {"email", a.Email}, {"phone", a.Phone}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, " %s=\"%s\"", kv[0], esc(kv[1]))
			}
		}
		fmt.Fprintf(&b, ">%s</author>\n", esc(a.Name))
	}
	if g.Location != "" {
		fmt.Fprintf(&b, "    <location>%s</location>\n", esc(g.Location))
	}
	if g.Comment != "" {
		fmt.Fprintf(&b, "    <comment>%s</comment>\n", esc(g.Comment))
	}
	b.WriteString("  </creatorinfo>\n")
	b.WriteString("  <processinfo>\n")
	fmt.Fprintf(&b, "    <process>%s</process>\n", esc(g.Process))
	if g.RootHash != nil && len(g.RootHash.Hashes) > 0 {
		b.WriteString("    <roothash>\n")
		writeDirHashes(&b, g.RootHash, "      ")
		b.WriteString("    </roothash>\n")
	}
	ignore := g.Ignore
	if len(ignore) == 0 {
		ignore = DefaultIgnore
	}
	b.WriteString("    <ignore>\n")
	for _, p := range ignore {
		fmt.Fprintf(&b, "      <pattern>%s</pattern>\n", esc(p))
	}
	b.WriteString("    </ignore>\n")
	b.WriteString("  </processinfo>\n")
	b.WriteString("  <hashes>\n")
	for i := range g.Entries {
		e := &g.Entries[i]
		if e.IsDir {
			b.WriteString("    <directoryhash>\n")
			fmt.Fprintf(&b, "      <path lastmodificationdate=\"%s\">%s</path>\n", xmlTime(e.ModTime), esc(e.Path))
			writeDirHashes(&b, e, "      ")
			if e.PreviousPath != "" {
				fmt.Fprintf(&b, "      <previousPath>%s</previousPath>\n", esc(e.PreviousPath))
			}
			b.WriteString("    </directoryhash>\n")
			continue
		}
		b.WriteString("    <hash>\n")
		fmt.Fprintf(&b, "      <path size=\"%d\" lastmodificationdate=\"%s\">%s</path>\n", e.Size, xmlTime(e.ModTime), esc(e.Path))
		for _, h := range sortedHashes(e.Hashes) {
			b.WriteString("      <" + string(h.Format))
			if h.Action != "" {
				fmt.Fprintf(&b, " action=\"%s\"", h.Action)
			}
			fmt.Fprintf(&b, " hashdate=\"%s\">%s</%s>\n", xmlTime(h.Date), h.Value, h.Format)
		}
		if e.PreviousPath != "" {
			fmt.Fprintf(&b, "      <previousPath>%s</previousPath>\n", esc(e.PreviousPath))
		}
		b.WriteString("    </hash>\n")
	}
	b.WriteString("  </hashes>\n")
	b.WriteString("</hashlist>\n")
	return b.Bytes()
}

func sortedHashes(hs []HashValue) []HashValue {
	out := make([]HashValue, 0, len(hs))
	for _, f := range Formats {
		for _, h := range hs {
			if h.Format == f {
				out = append(out, h)
			}
		}
	}
	return out
}

func writeDirHashes(b *bytes.Buffer, e *Entry, ind string) {
	hs := sortedHashes(e.Hashes)
	for _, part := range []string{"content", "structure"} {
		b.WriteString(ind + "<" + part + ">\n")
		for _, h := range hs {
			v := h.Value
			if part == "structure" {
				v = h.Structure
			}
			fmt.Fprintf(b, "%s  <%s hashdate=\"%s\">%s</%s>\n", ind, h.Format, xmlTime(h.Date), v, h.Format)
		}
		b.WriteString(ind + "</" + part + ">\n")
	}
}

// XML decoding. encoding/xml matches local names, so the namespace does not
// need to be spelled out.

type xmlValue struct {
	XMLName  xml.Name
	Action   string `xml:"action,attr"`
	HashDate string `xml:"hashdate,attr"`
	Text     string `xml:",chardata"`
}

type xmlPath struct {
	Size    string `xml:"size,attr"`
	ModDate string `xml:"lastmodificationdate,attr"`
	Text    string `xml:",chardata"`
}

type xmlValues struct {
	Values []xmlValue `xml:",any"`
}

type xmlItem struct {
	XMLName   xml.Name
	Path      xmlPath    `xml:"path"`
	Content   *xmlValues `xml:"content"`
	Structure *xmlValues `xml:"structure"`
	Previous  string     `xml:"previousPath"`
	Values    []xmlValue `xml:",any"`
}

type xmlHashList struct {
	XMLName xml.Name `xml:"hashlist"`
	Version string   `xml:"version,attr"`
	Creator struct {
		CreationDate string `xml:"creationdate"`
		HostName     string `xml:"hostname"`
		Tool         struct {
			Version string `xml:"version,attr"`
			Name    string `xml:",chardata"`
		} `xml:"tool"`
		Authors []struct {
			Role  string `xml:"role,attr"`
			Email string `xml:"email,attr"`
			Phone string `xml:"phone,attr"`
			Name  string `xml:",chardata"`
		} `xml:"author"`
		Location string `xml:"location"`
		Comment  string `xml:"comment"`
	} `xml:"creatorinfo"`
	Process struct {
		Process  string   `xml:"process"`
		RootHash *xmlItem `xml:"roothash"`
		Ignore   []string `xml:"ignore>pattern"`
	} `xml:"processinfo"`
	Hashes struct {
		Items []xmlItem `xml:",any"`
	} `xml:"hashes"`
	Refs []struct {
		Path string `xml:"path"`
		C4   string `xml:"c4"`
	} `xml:"references>hashlistreference"`
}

func dirEntry(it *xmlItem) (Entry, error) {
	e := Entry{Path: strings.TrimSpace(it.Path.Text), IsDir: true, ModTime: parseTime(it.Path.ModDate), PreviousPath: it.Previous}
	if it.Content == nil {
		return e, nil
	}
	for _, v := range it.Content.Values {
		f, err := ParseFormat(v.XMLName.Local)
		if err != nil {
			return e, err
		}
		h := HashValue{Format: f, Value: strings.TrimSpace(v.Text), Action: v.Action, Date: parseTime(v.HashDate)}
		if it.Structure != nil {
			for _, s := range it.Structure.Values {
				if s.XMLName.Local == v.XMLName.Local {
					h.Structure = strings.TrimSpace(s.Text)
				}
			}
		}
		e.Hashes = append(e.Hashes, h)
	}
	return e, nil
}

// ParseGeneration decodes one .mhl document.
func ParseGeneration(r io.Reader) (*Generation, error) {
	var x xmlHashList
	if err := xml.NewDecoder(r).Decode(&x); err != nil {
		return nil, fmt.Errorf("decode hashlist: %w", err)
	}
	if x.Version != "" && !strings.HasPrefix(x.Version, "2") {
		return nil, fmt.Errorf("unsupported hashlist version %q", x.Version)
	}
	g := &Generation{
		CreationDate: parseTime(x.Creator.CreationDate),
		HostName:     strings.TrimSpace(x.Creator.HostName),
		ToolName:     strings.TrimSpace(x.Creator.Tool.Name),
		ToolVersion:  x.Creator.Tool.Version,
		Location:     x.Creator.Location,
		Comment:      x.Creator.Comment,
		Process:      strings.TrimSpace(x.Process.Process),
		Ignore:       x.Process.Ignore,
	}
	for _, a := range x.Creator.Authors {
		g.Authors = append(g.Authors, Author{Name: strings.TrimSpace(a.Name), Email: a.Email, Phone: a.Phone, Role: a.Role})
	}
	if x.Process.RootHash != nil {
		e, err := dirEntry(x.Process.RootHash)
		if err != nil {
			return nil, fmt.Errorf("roothash: %w", err)
		}
		e.Path = "."
		g.RootHash = &e
	}
	for i := range x.Hashes.Items {
		it := &x.Hashes.Items[i]
		switch it.XMLName.Local {
		case "directoryhash":
			e, err := dirEntry(it)
			if err != nil {
				return nil, fmt.Errorf("directoryhash %s: %w", it.Path.Text, err)
			}
			g.Entries = append(g.Entries, e)
		case "hash":
			e := Entry{Path: strings.TrimSpace(it.Path.Text), ModTime: parseTime(it.Path.ModDate), PreviousPath: it.Previous}
			if it.Path.Size != "" {
				fmt.Sscan(it.Path.Size, &e.Size)
			}
			for _, v := range it.Values {
				f, err := ParseFormat(v.XMLName.Local)
				if err != nil {
					return nil, fmt.Errorf("hash %s: %w", e.Path, err)
				}
				e.Hashes = append(e.Hashes, HashValue{Format: f, Value: strings.TrimSpace(v.Text), Action: v.Action, Date: parseTime(v.HashDate)})
			}
			g.Entries = append(g.Entries, e)
		}
	}
	for _, r := range x.Refs {
		g.Refs = append(g.Refs, ChildRef{Path: strings.TrimSpace(r.Path), C4: strings.TrimSpace(r.C4)})
	}
	return g, nil
}

// ChainEntry is one <hashlist> of ascmhl_chain.xml.
type ChainEntry struct {
	Number int
	Path   string // file name of the generation inside ascmhl/
	Format Format // always c4 when written by the reference
	Hash   string
}

type xmlChain struct {
	XMLName xml.Name `xml:"ascmhldirectory"`
	Lists   []struct {
		Seq    int        `xml:"sequencenr,attr"`
		Path   string     `xml:"path"`
		Values []xmlValue `xml:",any"`
	} `xml:"hashlist"`
}

// ParseChain decodes an ascmhl_chain.xml document.
func ParseChain(r io.Reader) ([]ChainEntry, error) {
	var x xmlChain
	if err := xml.NewDecoder(r).Decode(&x); err != nil {
		return nil, fmt.Errorf("decode chain: %w", err)
	}
	var out []ChainEntry
	for _, l := range x.Lists {
		ce := ChainEntry{Number: l.Seq, Path: strings.TrimSpace(l.Path)}
		for _, v := range l.Values {
			f, err := ParseFormat(v.XMLName.Local)
			if err != nil {
				return nil, fmt.Errorf("chain entry %d: %w", l.Seq, err)
			}
			ce.Format, ce.Hash = f, strings.TrimSpace(v.Text)
		}
		out = append(out, ce)
	}
	return out, nil
}

// MarshalChain renders a chain file like the reference does.
func MarshalChain(entries []ChainEntry) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ascmhldirectory xmlns=\"urn:ASC:MHL:DIRECTORY:v2.0\">\n")
	for _, e := range entries {
		f := e.Format
		if f == "" {
			f = C4
		}
		fmt.Fprintf(&b, "  <hashlist sequencenr=\"%d\">\n    <path>%s</path>\n    <%s>%s</%s>\n  </hashlist>\n", e.Number, esc(e.Path), f, e.Hash, f)
	}
	b.WriteString("</ascmhldirectory>\n")
	return b.Bytes()
}
