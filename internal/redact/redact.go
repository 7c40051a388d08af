// Package redact removes secrets from URLs, error messages and log records
// before they reach the logs, /v1/status, `ingestd doctor` or /metrics.
//
// The secrets it knows are those a config author may put in a URL: the
// userinfo (https://user:pass@host) and the query string
// (https://hub/events?token=...). URL masks them; String masks them in every
// http:// or https:// URL found in free text (an error from net/http
// embeds the request's whole URL, query included: url.Error); Error does
// the same to an error while keeping errors.Is/As working; Handler wraps a
// slog.Handler so that no log record carries them.
//
// url.URL.Redacted is not enough: it hides only the password, and keeps
// the user name and the query.
//
// It must stay dependency-free (standard library only) and never fail:
// text it cannot parse is masked, not passed through.
package redact

import (
	"context"
	"errors"
	"log/slog"
	"strings"
)

// Mask replaces every secret.
const Mask = "REDACTED"

// URL returns s with the userinfo replaced by Mask, every query value
// replaced by Mask (names are kept: they help diagnose, "token=REDACTED"),
// a query element without "=" replaced whole, and a fragment replaced.
// Scheme, host, port and path are kept. s need not be a valid URL.
func URL(s string) string {
	rest := s
	var b strings.Builder
	if i := strings.Index(rest, "://"); i >= 0 {
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		auth := rest[:end]
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			b.WriteString(Mask)
			auth = auth[at:]
		}
		b.WriteString(auth)
		rest = rest[end:]
	} else if at := strings.LastIndexByte(beforeAny(rest, "/?#"), '@'); at >= 0 {
		// host:port with userinfo but no scheme ("user:pass@host:9000").
		b.WriteString(Mask)
		rest = rest[at:]
	}
	path, query, hasQ := strings.Cut(rest, "?")
	frag, hasF := "", false
	if hasQ {
		query, frag, hasF = strings.Cut(query, "#")
	} else {
		path, frag, hasF = strings.Cut(path, "#")
	}
	b.WriteString(path)
	if hasQ {
		b.WriteByte('?')
		for i, kv := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			switch k, _, ok := strings.Cut(kv, "="); {
			case ok:
				b.WriteString(k)
				b.WriteString("=" + Mask)
			case kv != "":
				b.WriteString(Mask)
			}
		}
	}
	if hasF && frag != "" {
		b.WriteString("#" + Mask)
	}
	return b.String()
}

func beforeAny(s, chars string) string {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return s[:i]
	}
	return s
}

// String masks, as URL does, every http:// or https:// URL (any case) in
// free text such as an error message. A URL ends at white space, a quote,
// '<', '>' or a backslash (an escaped quote in %q output).
func String(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := indexScheme(s)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexFunc(s, func(r rune) bool {
			return r <= ' ' || r == '"' || r == '\'' || r == '`' || r == '<' || r == '>' || r == '\\'
		})
		if end < 0 {
			end = len(s)
		}
		b.WriteString(URL(s[:end]))
		s = s[end:]
	}
}

// indexScheme finds the next "http://" or "https://", any case.
func indexScheme(s string) int {
	low := strings.ToLower(s)
	i, j := strings.Index(low, "http://"), strings.Index(low, "https://")
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	}
	return min(i, j)
}

// Error returns err with its message passed through String; errors.Is
// and errors.As still see err. It returns err itself when nothing needed
// masking, and nil for nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := String(msg); r != msg {
		return &redacted{msg: r, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// Is lets errors.Is(Error(err), target) keep matching what err matched.
func (e *redacted) Is(target error) bool { return errors.Is(e.err, target) }

// Handler wraps h so that the message and every string, error and
// fmt.Stringer attribute of a record (groups included) pass through String.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(*handler); ok {
		return h
	}
	return &handler{h: h}
}

type handler struct{ h slog.Handler }

func (r *handler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(Attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = Attr(a)
	}
	return &handler{h: r.h.WithAttrs(red)}
}

func (r *handler) WithGroup(name string) slog.Handler { return &handler{h: r.h.WithGroup(name)} }

// Attr returns a with its value masked (see Handler).
func Attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); strings.Contains(s, "://") {
			return slog.String(a.Key, String(s))
		}
	case slog.KindGroup:
		gs := v.Group()
		red := make([]slog.Attr, len(gs))
		for i, g := range gs {
			red[i] = Attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if s := x.Error(); strings.Contains(s, "://") {
				return slog.String(a.Key, String(s))
			}
		case interface{ String() string }:
			if s := x.String(); strings.Contains(s, "://") {
				return slog.String(a.Key, String(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
