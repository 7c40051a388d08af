package ascmhl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ingestd/ingestd/internal/safefs"
)

// File is one hashed file to record in a new generation.
type File struct {
	Path    string // slash-separated, relative to the root
	Size    int64
	ModTime time.Time
	Hashes  map[Format]string
}

// Tree is what a new generation records: every file with its hashes and
// every directory ("." is the root) with its modification time. Empty
// directories belong in Dirs: the reference hashes them too.
type Tree struct {
	Files []File
	Dirs  map[string]time.Time
}

// Creator is who writes a generation.
type Creator struct {
	HostName    string
	ToolName    string // "ingestd"
	ToolVersion string
	Authors     []Author
	Location    string
	Comment     string
}

// Failure is a file whose new hash differs from the history's.
type Failure struct {
	Path   string
	Format Format
	Was    string
	Now    string
}

// ErrUnrepresentable is returned (wrapped) for a file or folder name that
// no ASC MHL can record: not valid UTF-8, or holding a character XML 1.0
// forbids (control characters other than tab, line feed and carriage
// return; U+FFFE, U+FFFF). Written anyway, it would be mangled (U+FFFD) and
// the history would list a file that is not there.
var ErrUnrepresentable = errors.New("name cannot be recorded in an ASC MHL")

// CheckPath reports whether rel can be written as a <path> of a
// generation (ErrUnrepresentable when not).
func CheckPath(rel string) error {
	if !utf8.ValidString(rel) {
		return fmt.Errorf("%q: %w (not valid UTF-8)", rel, ErrUnrepresentable)
	}
	for _, r := range rel {
		ok := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || r >= 0x10000
		if !ok {
			return fmt.Errorf("%q: %w (character %U)", rel, ErrUnrepresentable, r)
		}
	}
	return nil
}

// Build turns a hashed tree into the next generation of h: file entries get
// action original (not in the history yet), verified or failed (compared
// with the history's first hash of that format), and directories get
// content and structure hashes computed as the reference does. Entries are
// in the reference's post-order: a directory's subdirectories first, then
// its files, then the directory itself.
func (h *History) Build(tree Tree, formats []Format, process string, c Creator, now time.Time) (*Generation, []Failure, error) {
	formats = SortFormats(formats)
	if len(formats) == 0 {
		return nil, nil, fmt.Errorf("build generation: no hash formats")
	}
	g := &Generation{
		CreationDate: now, HostName: c.HostName, ToolName: c.ToolName, ToolVersion: c.ToolVersion,
		Authors: c.Authors, Location: c.Location, Comment: c.Comment,
		Process: process, Ignore: h.IgnorePatterns(),
	}
	type dirNode struct {
		dirs  []string
		files []*File
	}
	nodes := map[string]*dirNode{".": {}}
	var ensure func(d string) *dirNode
	ensure = func(d string) *dirNode {
		if n, ok := nodes[d]; ok {
			return n
		}
		n := &dirNode{}
		nodes[d] = n
		parent := ensure(path.Dir(d))
		parent.dirs = append(parent.dirs, d)
		return n
	}
	for d := range tree.Dirs {
		if d != "." && d != "" {
			if err := CheckPath(d); err != nil {
				return nil, nil, fmt.Errorf("build generation: %w", err)
			}
			ensure(d)
		}
	}
	for i := range tree.Files {
		f := &tree.Files[i]
		if err := CheckPath(f.Path); err != nil {
			return nil, nil, fmt.Errorf("build generation: %w", err)
		}
		n := ensure(path.Dir(f.Path))
		n.files = append(n.files, f)
	}
	var failures []Failure
	type dh struct{ content, structure map[Format]string }
	var walk func(d string) (dh, error)
	walk = func(d string) (dh, error) {
		n := nodes[d]
		sort.Strings(n.dirs)
		sort.Slice(n.files, func(i, j int) bool { return n.files[i].Path < n.files[j].Path })
		content := map[Format][]string{}
		structure := map[Format][]string{}
		for _, sub := range n.dirs {
			r, err := walk(sub)
			if err != nil {
				return dh{}, err
			}
			for _, f := range formats {
				content[f] = append(content[f], r.content[f])
				s, err := structureOf(f, path.Base(sub), r.structure[f])
				if err != nil {
					return dh{}, err
				}
				structure[f] = append(structure[f], s)
			}
		}
		for _, file := range n.files {
			e := Entry{Path: file.Path, Size: file.Size, ModTime: file.ModTime}
			_, known := h.Original(file.Path)
			for _, f := range formats {
				v, ok := file.Hashes[f]
				if !ok {
					return dh{}, fmt.Errorf("build generation: %s has no %s hash", file.Path, f)
				}
				hv := HashValue{Format: f, Value: v, Date: now, Action: ActionOriginal}
				if known {
					hv.Action = ActionVerified
					if old, ok := h.First(file.Path, f); ok && old.Value != v {
						hv.Action = ActionFailed
						failures = append(failures, Failure{Path: file.Path, Format: f, Was: old.Value, Now: v})
					}
				}
				e.Hashes = append(e.Hashes, hv)
				content[f] = append(content[f], v)
				s, err := structureOf(f, path.Base(file.Path), v)
				if err != nil {
					return dh{}, err
				}
				structure[f] = append(structure[f], s)
			}
			g.Entries = append(g.Entries, e)
		}
		out := dh{content: map[Format]string{}, structure: map[Format]string{}}
		de := Entry{Path: d, IsDir: true, ModTime: tree.Dirs[d]}
		for _, f := range formats {
			c, err := HashOfHashList(f, content[f])
			if err != nil {
				return dh{}, err
			}
			s, err := HashOfHashList(f, structure[f])
			if err != nil {
				return dh{}, err
			}
			out.content[f], out.structure[f] = c, s
			de.Hashes = append(de.Hashes, HashValue{Format: f, Value: c, Structure: s, Date: now})
		}
		if d == "." {
			g.RootHash = &de
		} else {
			g.Entries = append(g.Entries, de)
		}
		return out, nil
	}
	if _, err := walk("."); err != nil {
		return nil, nil, err
	}
	return g, failures, nil
}

// structureOf is one child's contribution to a structure hash: the hash of
// its UTF-8 name followed by the decoded digest (content digest for files,
// structure digest for directories).
func structureOf(f Format, name, digest string) (string, error) {
	b, err := Decode(f, digest)
	if err != nil {
		return "", err
	}
	return HashBytes(f, append([]byte(name), b...))
}

// HashFile hashes one file with every format in a single read pass. p must
// be a regular file: a final symlink is not followed and a FIFO or device
// is refused without blocking on it.
func HashFile(ctx context.Context, p string, formats []Format) (map[Format]string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", p, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		if err == nil {
			err = fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
		}
		return nil, fmt.Errorf("hash %s: %w", p, err)
	}
	return HashReader(ctx, f, formats)
}

// HashReader hashes r with every format in a single pass.
func HashReader(ctx context.Context, r io.Reader, formats []Format) (map[Format]string, error) {
	ws := make([]io.Writer, 0, len(formats))
	hs := map[Format]interface{ Sum([]byte) []byte }{}
	for _, f := range formats {
		h, err := NewHash(f)
		if err != nil {
			return nil, err
		}
		ws = append(ws, h)
		hs[f] = h
	}
	mw := io.MultiWriter(ws...)
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		if n > 0 {
			mw.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	}
	out := map[Format]string{}
	for f, h := range hs {
		out[f] = Encode(f, h.Sum(nil))
	}
	return out, nil
}

// Scan walks root (skipping ignored paths and not following symlinks, like
// the reference) and hashes every file with the given formats.
func Scan(ctx context.Context, root string, formats []Format, ignore []string) (Tree, error) {
	tree := Tree{Dirs: map[string]time.Time{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scan %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && Ignored(ignore, rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("scan %s: %w", p, err)
		}
		switch {
		case d.IsDir():
			tree.Dirs[rel] = info.ModTime()
		case d.Type().IsRegular():
			hs, err := HashFile(ctx, p, formats)
			if err != nil {
				return err
			}
			tree.Files = append(tree.Files, File{Path: rel, Size: info.Size(), ModTime: info.ModTime(), Hashes: hs})
		}
		return nil
	})
	return tree, err
}

// Seal hashes root and writes a new generation of its history (the
// reference's `ascmhl create`): original hashes for new files, verified or
// failed for known ones, always including every format the history records.
func Seal(ctx context.Context, root string, formats []Format, process string, c Creator) (*Generation, []Failure, error) {
	h, err := Open(root)
	if err != nil {
		return nil, nil, err
	}
	formats = SortFormats(append(append([]Format(nil), formats...), h.Formats()...))
	tree, err := Scan(ctx, root, formats, h.IgnorePatterns())
	if err != nil {
		return nil, nil, err
	}
	g, fails, err := h.Build(tree, formats, process, c, time.Now())
	if err != nil {
		return nil, nil, err
	}
	if err := h.AddGeneration(g); err != nil {
		return nil, nil, err
	}
	return g, fails, nil
}

// Report is the result of Verify.
type Report struct {
	Verified []string  // files whose recorded hashes matched (each format's first)
	Failed   []Failure // files whose hash differs
	New      []string  // files on disk the history does not know
	Missing  []string  // files in the history that are not on disk
}

// OK reports whether the folder matches its history exactly.
func (r Report) OK() bool { return len(r.Failed) == 0 && len(r.New) == 0 && len(r.Missing) == 0 }

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d verified, %d failed, %d new, %d missing", len(r.Verified), len(r.Failed), len(r.New), len(r.Missing))
	for _, f := range r.Failed {
		fmt.Fprintf(&b, "; failed %s (%s %s != %s)", f.Path, f.Format, f.Now, f.Was)
	}
	for _, p := range r.New {
		fmt.Fprintf(&b, "; new %s", p)
	}
	for _, p := range r.Missing {
		fmt.Fprintf(&b, "; missing %s", p)
	}
	return b.String()
}

// Verify re-hashes every file under root against the hashes its history
// recorded (each format's first value; the reference's `ascmhl verify`): mismatches, files the history
// does not know and files that are gone are all reported. It returns
// ErrNoHistory when root has no generations.
func Verify(ctx context.Context, root string) (Report, error) {
	var rep Report
	d, err := safefs.OpenRoot(root, true)
	if err != nil {
		return rep, err
	}
	defer d.Close()
	h, err := OpenDir(d)
	if err != nil {
		return rep, err
	}
	if len(h.Generations) == 0 {
		return rep, fmt.Errorf("verify %s: %w", root, ErrNoHistory)
	}
	// Histories of sub-folders answer for the files below them, as in
	// the reference's verify.
	var nested []string
	err = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			return err
		}
		if de.Name() == FolderName && p != filepath.Join(root, FolderName) {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			nested = append(nested, filepath.ToSlash(rel))
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify %s: %w", root, err)
	}
	if err := h.LoadNested(nested); err != nil {
		return rep, err
	}
	ignore := h.IgnorePatterns()
	known := h.Files()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("verify %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if Ignored(ignore, rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		delete(known, rel)
		recs := h.Recorded(rel)
		if len(recs) == 0 {
			rep.New = append(rep.New, rel)
			return nil
		}
		// Every format recorded for it, in one read.
		var fs []Format
		for _, r := range recs {
			fs = append(fs, r.Format)
		}
		hs, err := HashFile(ctx, p, fs)
		if err != nil {
			return err
		}
		failed := false
		for _, r := range recs {
			if hs[r.Format] != r.Value {
				rep.Failed = append(rep.Failed, Failure{Path: rel, Format: r.Format, Was: r.Value, Now: hs[r.Format]})
				failed = true
				break
			}
		}
		if !failed {
			rep.Verified = append(rep.Verified, rel)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for p := range known {
		rep.Missing = append(rep.Missing, p)
	}
	sort.Strings(rep.Missing)
	return rep, nil
}
