package ascmhl

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/safefs"
)

// Folder and file names of a history.
const (
	FolderName = "ascmhl"
	ChainName  = "ascmhl_chain.xml"
)

// ErrNoHistory is returned (wrapped) when a folder has no ascmhl/ history.
var ErrNoHistory = errors.New("no ascmhl history")

// ErrModified is returned (wrapped) when a generation file does not match
// the hash the chain recorded for it, or is missing.
var ErrModified = errors.New("ascmhl generation modified or missing")

var genName = regexp.MustCompile(`^(\d{4,})(?:_(.+))?\.mhl$`)

// History is the ascmhl/ folder of one root: its chain and generations,
// oldest first. The zero generations case is a root without a history yet.
type History struct {
	Root        string
	Chain       []ChainEntry
	Generations []*Generation

	// Nested are the histories of sub-folders (the reference's child
	// histories, read by LoadNested), deepest first, each with its folder
	// relative to Root: a file below one is looked up in it.
	Nested []Nested

	root *safefs.Dir // held open by the caller of OpenDir; nil after Open
	read int64       // .mhl bytes read (MaxHistorySize), nested ones included
}

// account adds n bytes read from file p to the history's total.
func (h *History) account(p string, n int) error {
	h.read += int64(n)
	if h.read > historyBudget {
		return fmt.Errorf("read %s: %w: the history's generations pass %d bytes in all", p, safefs.ErrTooLarge, historyBudget)
	}
	return nil
}

// Nested is the history of a sub-folder of a root.
type Nested struct {
	Rel     string // slash-separated, relative to the root
	History *History
}

// MaxNested caps the nested histories LoadNested reads for one root.
const MaxNested = 1024

// LoadNested reads the histories of sub-folders of a root opened with
// OpenDir. rels are the folders (slash-separated, relative to the root)
// that hold an ascmhl/ folder, found by the caller's walk of the tree as
// the reference finds its child histories; each is read with OpenDir's
// checks, never through a symlink or outside the root. Afterwards Original,
// First, Recorded, Files and Formats answer for files below a nested history
// from it, as the reference's verify and create do.
//
// An error reading one is a *NestedError naming its folder.
func (h *History) LoadNested(rels []string) error {
	if len(rels) == 0 {
		return nil
	}
	if h.root == nil {
		return fmt.Errorf("nested histories of %s: root not held open", h.Root)
	}
	if len(rels) > MaxNested {
		return fmt.Errorf("%s: %w: %d nested ascmhl histories, at most %d are read", h.Root, safefs.ErrTooLarge, len(rels), MaxNested)
	}
	for _, rel := range rels {
		if rel == "" || rel == "." || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("nested history %q of %s: %w", rel, h.Root, ErrBadChain)
		}
		d, err := h.root.OpenDir(rel)
		if err != nil {
			return &NestedError{Rel: rel, Err: err}
		}
		c, err := openDir(d, h.read)
		d.Close()
		if err != nil {
			return &NestedError{Rel: rel, Err: err}
		}
		c.root = nil
		h.read = c.read // c started from h's total
		h.Nested = append(h.Nested, Nested{Rel: rel, History: c})
	}
	sort.SliceStable(h.Nested, func(i, j int) bool { return strings.Count(h.Nested[i].Rel, "/") > strings.Count(h.Nested[j].Rel, "/") })
	return nil
}

// NestedError is a nested history that could not be read: Rel is its
// folder (slash-separated, relative to the root).
type NestedError struct {
	Rel string
	Err error
}

func (e *NestedError) Error() string { return "nested history " + e.Rel + ": " + e.Err.Error() }
func (e *NestedError) Unwrap() error { return e.Err }

// owner is the nested history a file path belongs to (the deepest folder
// above it that has one) and the path relative to it; h itself otherwise.
func (h *History) owner(p string) (*History, string) {
	for _, n := range h.Nested {
		if strings.HasPrefix(p, n.Rel+"/") {
			return n.History, p[len(n.Rel)+1:]
		}
	}
	return h, p
}

// Limits on what is read from a history (a card's own history is
// untrusted input): a chain or generation file larger than this fails with
// safefs.ErrTooLarge instead of being read into memory.
const (
	MaxChainSize      = 16 << 20  // ascmhl_chain.xml
	MaxGenerationSize = 256 << 20 // one .mhl file (about 500,000 entries)
	// MaxHistorySize caps the .mhl bytes read for one root, its nested
	// histories included (many generations, each under the cap above).
	MaxHistorySize = 1 << 30
)

// ErrBadChain is returned (wrapped) for a chain entry whose path is not a
// plain file name inside ascmhl/ (absolute, "..", a sub-folder).
var ErrBadChain = errors.New("ascmhl chain entry outside ascmhl/")

// Open reads root/ascmhl: the chain and every generation it lists, checking
// each generation file against the chain's C4 hash (as the reference does
// when it loads a history). A root without an ascmhl/ folder gives an empty
// History and no error; use Exists to tell the two apart.
//
// root itself is trusted; nothing below it is: ascmhl/ and every file in
// it must be a real directory and regular files on root's filesystem
// (symlinks, FIFOs and devices are refused, never followed or opened for
// reading), files are read up to MaxChainSize/MaxGenerationSize, and a
// chain entry must name a file inside ascmhl/ (ErrBadChain).
func Open(root string) (*History, error) {
	d, err := safefs.OpenRoot(root, true)
	if errors.Is(err, fs.ErrNotExist) {
		return &History{Root: root}, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	h, err := OpenDir(d)
	if h != nil {
		h.root = nil
	}
	return h, err
}

// OpenDir is Open for a root held open by the caller, which keeps it open
// as long as it uses the History (AddGeneration writes through it).
func OpenDir(root *safefs.Dir) (*History, error) {
	return openDir(root, 0)
}

// historyBudget is MaxHistorySize (tests lower it).
var historyBudget int64 = MaxHistorySize

// openDir is OpenDir with read bytes of .mhl files already read for the
// same top root (MaxHistorySize counts them all).
func openDir(root *safefs.Dir, read int64) (*History, error) {
	h := &History{Root: root.Name(), root: root, read: read}
	st, err := root.Lstat(FolderName)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		cause := ErrModified
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			cause = safefs.ErrSymlink
		}
		return nil, fmt.Errorf("%s: %w: %s is a %s, not a folder", root.Name(), cause, FolderName, safefs.TypeName(st.Mode))
	}
	dir, err := root.OpenDir(FolderName)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	chainPath := filepath.Join(dir.Name(), ChainName)
	data, err := dir.ReadFile(ChainName, MaxChainSize)
	if errors.Is(err, fs.ErrNotExist) {
		if ents, lerr := dir.ReadDir("."); lerr == nil && !holdsHistory(ents) {
			return h, nil // an empty folder (Exists): no history yet
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read chain %s: %w", chainPath, err)
	}
	h.Chain, err = ParseChain(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", chainPath, err)
	}
	for _, ce := range h.Chain {
		if err := checkChainPath(ce.Path); err != nil {
			return nil, fmt.Errorf("%s: entry %d: %w", chainPath, ce.Number, err)
		}
	}
	for _, ce := range h.Chain {
		p := filepath.Join(dir.Name(), ce.Path)
		raw, err := dir.ReadFile(ce.Path, MaxGenerationSize)
		if err != nil {
			return nil, fmt.Errorf("generation %s: %w: %w", p, ErrModified, err)
		}
		if err := h.account(p, len(raw)); err != nil {
			return nil, err
		}
		if ce.Hash != "" {
			got, err := HashBytes(ce.Format, raw)
			if err != nil {
				return nil, fmt.Errorf("generation %s: %w", p, err)
			}
			if got != ce.Hash {
				return nil, fmt.Errorf("generation %s: %w: %s is %s, chain says %s", p, ErrModified, ce.Format, got, ce.Hash)
			}
		}
		g, err := ParseGeneration(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("generation %s: %w", p, err)
		}
		g.Number = ce.Number
		g.FileName = ce.Path
		h.Generations = append(h.Generations, g)
	}
	// The reference also loads .mhl files the chain does not list (it
	// reports a chain without them as incomplete); we take them in too.
	ents, err := dir.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir.Name(), err)
	}
	for _, de := range ents {
		m := genName.FindStringSubmatch(de.Name())
		if m == nil || strings.HasPrefix(de.Name(), "._") || h.generationByFile(de.Name()) != nil {
			continue
		}
		raw, err := dir.ReadFile(de.Name(), MaxGenerationSize)
		if err != nil {
			return nil, fmt.Errorf("read generation %s: %w", de.Name(), err)
		}
		if err := h.account(filepath.Join(dir.Name(), de.Name()), len(raw)); err != nil {
			return nil, err
		}
		g, err := ParseGeneration(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("generation %s: %w", de.Name(), err)
		}
		g.Number, _ = strconv.Atoi(m[1])
		g.FileName = de.Name()
		h.Generations = append(h.Generations, g)
	}
	sort.SliceStable(h.Generations, func(i, j int) bool { return h.Generations[i].Number < h.Generations[j].Number })
	return h, nil
}

// checkChainPath accepts only a plain file name (the reference writes the
// generation's name, relative to ascmhl/).
func checkChainPath(p string) error {
	if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/\\\x00") {
		return fmt.Errorf("%w: path %q is not a file name", ErrBadChain, p)
	}
	return nil
}

// Exists reports whether root has an ascmhl/ history: a real folder (not
// a symlink) holding a chain file or a generation. A folder without either
// (left empty, or holding only the temporary file of a write that failed,
// e.g. on a full disk) is no history: Open reads it as none, and a new
// history may be started or copied into it.
func Exists(root string) bool {
	d, err := safefs.OpenRoot(root, true)
	if err != nil {
		return false
	}
	defer d.Close()
	return ExistsIn(d)
}

// ExistsIn is Exists for a root held open.
func ExistsIn(root *safefs.Dir) bool {
	st, err := root.Lstat(FolderName)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	ents, err := root.ReadDir(FolderName)
	if err != nil {
		return true // unreadable: Open says why
	}
	return holdsHistory(ents)
}

// holdsHistory reports whether the entries of an ascmhl/ folder include
// its chain file or a generation file.
func holdsHistory(ents []fs.DirEntry) bool {
	for _, e := range ents {
		if e.Name() == ChainName || (genName.MatchString(e.Name()) && !strings.HasPrefix(e.Name(), "._")) {
			return true
		}
	}
	return false
}

func (h *History) generationByFile(name string) *Generation {
	for _, g := range h.Generations {
		if g.FileName == name {
			return g
		}
	}
	return nil
}

// Latest returns the newest generation, or nil.
func (h *History) Latest() *Generation {
	if len(h.Generations) == 0 {
		return nil
	}
	return h.Generations[len(h.Generations)-1]
}

// Original returns the first hash with action "original" for a file path,
// searching generations oldest first, as the reference's verify does.
func (h *History) Original(p string) (HashValue, bool) {
	if o, rel := h.owner(p); o != h {
		return o.Original(rel)
	}
	for _, g := range h.Generations {
		e, ok := g.Entry(p)
		if !ok || e.IsDir {
			continue
		}
		for _, v := range e.Hashes {
			if v.Action == ActionOriginal {
				return v, true
			}
		}
	}
	return HashValue{}, false
}

// First returns the first recorded hash of format f for a file path.
func (h *History) First(p string, f Format) (HashValue, bool) {
	if o, rel := h.owner(p); o != h {
		return o.First(rel, f)
	}
	for _, g := range h.Generations {
		if e, ok := g.Entry(p); ok && !e.IsDir {
			if v, ok := e.Hash(f); ok {
				return v, true
			}
		}
	}
	return HashValue{}, false
}

// Files returns every file path the history expects in the folder now: each
// path recorded in any generation, a renamed one (an entry's previous_path,
// written by the reference's `create --detect_renaming`) followed to its
// newest name, as the reference's create and verify do.
func (h *History) Files() map[string]bool {
	renamed := map[string]string{}
	var all []string
	for _, g := range h.Generations {
		for _, e := range g.Entries {
			if e.IsDir {
				continue
			}
			all = append(all, e.Path)
			if e.PreviousPath != "" && e.PreviousPath != e.Path {
				renamed[e.PreviousPath] = e.Path
			}
		}
	}
	out := map[string]bool{}
	for _, p := range all {
		// Follow a chain of renames; a cycle (a→b, b→a) stops where it
		// started, at most one step per rename recorded.
		for i := 0; i < len(renamed); i++ {
			next, ok := renamed[p]
			if !ok {
				break
			}
			p = next
		}
		out[p] = true
	}
	for _, n := range h.Nested {
		for p := range n.History.Files() {
			out[n.Rel+"/"+p] = true
		}
	}
	return out
}

// Formats lists every format the history's file hashes use, whatever
// their action: a new generation includes them all, as the reference's
// create hashes each file in every format recorded for it (a format added
// by a later generation is recorded "verified", never "original", there).
func (h *History) Formats() []Format {
	var fs []Format
	for _, g := range h.Generations {
		for _, e := range g.Entries {
			if e.IsDir {
				continue
			}
			for _, v := range e.Hashes {
				fs = append(fs, v.Format)
			}
		}
	}
	for _, n := range h.Nested {
		fs = append(fs, n.History.Formats()...)
	}
	return SortFormats(fs)
}

// Recorded returns, for a file path, the first hash recorded in each
// format (generations oldest first): what the reference checks the file
// against, format by format.
func (h *History) Recorded(p string) []HashValue {
	if o, rel := h.owner(p); o != h {
		return o.Recorded(rel)
	}
	var out []HashValue
	seen := map[Format]bool{}
	for _, g := range h.Generations {
		e, ok := g.Entry(p)
		if !ok || e.IsDir {
			continue
		}
		for _, v := range e.Hashes {
			if !seen[v.Format] {
				seen[v.Format] = true
				out = append(out, v)
			}
		}
	}
	return out
}

// IgnorePatterns returns the latest generation's patterns, or the defaults.
func (h *History) IgnorePatterns() []string {
	if g := h.Latest(); g != nil && len(g.Ignore) > 0 {
		return g.Ignore
	}
	return DefaultIgnore
}

// NextNumber is the sequence number the next generation gets.
func (h *History) NextNumber() int {
	n := 0
	for _, g := range h.Generations {
		if g.Number > n {
			n = g.Number
		}
	}
	for _, c := range h.Chain {
		if c.Number > n {
			n = c.Number
		}
	}
	return n + 1
}

// FileName returns the reference's name for generation n of root created at
// t: NNNN_<foldername>_<YYYY-MM-DD>_<HHMMSS>Z.mhl.
func FileName(root string, n int, t time.Time) string {
	return fmt.Sprintf("%04d_%s_%s.mhl", n, filepath.Base(filepath.Clean(root)), t.UTC().Format("2006-01-02_150405Z"))
}

// AddGeneration writes gen as the next generation of the history (filling
// Number and FileName when empty) and appends it to ascmhl_chain.xml with
// the C4 hash of the written file. Both files are written to a temporary
// name, synced and renamed, so a crash leaves either the old or the new
// history. Nothing is written through a symlink: ascmhl/ must be a real
// folder and an existing file a regular one.
func (h *History) AddGeneration(gen *Generation) error {
	root := h.root
	if root == nil {
		d, err := safefs.OpenRoot(h.Root, false)
		if err != nil {
			return fmt.Errorf("open %s: %w", h.Root, err)
		}
		defer d.Close()
		root = d
	}
	dir, err := root.MkdirAll(FolderName, 0o755)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Join(h.Root, FolderName), err)
	}
	defer dir.Close()
	if gen.Number == 0 {
		gen.Number = h.NextNumber()
	}
	if gen.CreationDate.IsZero() {
		gen.CreationDate = time.Now()
	}
	if gen.FileName == "" {
		gen.FileName = FileName(h.Root, gen.Number, gen.CreationDate)
	}
	if err := checkChainPath(gen.FileName); err != nil {
		return err
	}
	data := gen.Marshal()
	c4, err := HashBytes(C4, data)
	if err != nil {
		return err
	}
	if err := dir.WriteFileAtomic(gen.FileName, data, 0o644); err != nil {
		return err
	}
	chain := append(append([]ChainEntry(nil), h.Chain...), ChainEntry{Number: gen.Number, Path: gen.FileName, Format: C4, Hash: c4})
	if err := dir.WriteFileAtomic(ChainName, MarshalChain(chain), 0o644); err != nil {
		// A generation the chain does not list would make the history
		// unreadable (the reference refuses it too): take it back, so a
		// retry (after the disk was freed) starts from the old chain.
		dir.Remove(gen.FileName)
		return err
	}
	h.Chain = chain
	h.Generations = append(h.Generations, gen)
	return nil
}

// Ignored reports whether rel (slash-separated, relative to the root) is
// matched by one of the gitwildmatch-style patterns. It covers the forms
// offload tools write: bare names and globs matching any path component,
// a trailing "/" for directories, and patterns containing "/" anchored at
// the root.
func Ignored(patterns []string, rel string, isDir bool) bool {
	name := path.Base(rel)
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		dirOnly := strings.HasSuffix(p, "/")
		p = strings.TrimSuffix(p, "/")
		if dirOnly && !isDir {
			continue
		}
		if strings.Contains(p, "/") {
			if ok, _ := path.Match(strings.TrimPrefix(p, "/"), rel); ok {
				return true
			}
			continue
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
