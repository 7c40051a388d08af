package daemon

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestAPIRoutesDocumented: every route the daemon's API serves is an
// endpoint of docs/api.md (the public contract the hub codes against), so
// a new route cannot ship undocumented. The other direction (every
// documented endpoint answers as documented) is TestContractAPI in
// cmd/ingestd, against the real binary.
func TestAPIRoutesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := docEndpointPaths(string(b))
	if len(documented) < 10 {
		t.Fatalf("parsed only %d endpoints from docs/api.md: %v", len(documented), documented)
	}
	c := testConfig(t)
	a := New(c, quiet)
	if err := a.Provision(); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	routes := a.API().Routes()
	for _, want := range []string{"/v1/status", "/v1/clips/{id}/proxy", "/metrics"} {
		if !slices.Contains(routes, want) {
			t.Fatalf("routes %v lack %s: the route list is incomplete", routes, want)
		}
	}
	for _, r := range routes {
		if _, p, ok := strings.Cut(r, " "); ok { // "GET /path"
			r = p
		}
		if r == "/" { // the JSON 404 for everything else
			continue
		}
		if !routeDocumented(r, documented) {
			t.Errorf("the API serves %s, which docs/api.md does not document (document it there; TestContractAPI then wants a case)", r)
		}
	}
}

// docEndpointPaths lists the paths of the endpoints docs/api.md names:
// "GET /…", "GET|HEAD /…", "POST /…", endpoint table rows and every path
// in an endpoint heading.
func docEndpointPaths(doc string) []string {
	set := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:GET|POST|HEAD|PUT|DELETE)(?:\|HEAD)? (/[A-Za-z0-9_{}$./-]*)`).FindAllStringSubmatch(doc, -1) {
		set[m[1]] = true
	}
	for _, m := range regexp.MustCompile("(?m)^\\| *(?:GET|POST)[A-Z, ]* *\\| *`(/[^`?]+)`").FindAllStringSubmatch(doc, -1) {
		set[m[1]] = true
	}
	// A heading names more paths after the first ("### `GET /a` and `/b`").
	for _, h := range regexp.MustCompile("(?m)^#+ .*(?:GET|POST|HEAD|DELETE).*$").FindAllString(doc, -1) {
		for _, m := range regexp.MustCompile("`(/[A-Za-z0-9_{}$./-]*)`").FindAllStringSubmatch(h, -1) {
			set[m[1]] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// routeDocumented: a documented path matches the route segment by segment;
// a route wildcard ({id}, {output}) matches any documented segment, "{$}"
// and a trailing "/" (a subtree) match as ServeMux does.
func routeDocumented(route string, documented []string) bool {
	rs := strings.Split(strings.TrimSuffix(route, "{$}"), "/")
	subtree := strings.HasSuffix(route, "/") && route != "/"
	for _, d := range documented {
		ds := strings.Split(d, "/")
		if len(ds) != len(rs) && !(subtree && len(ds) >= len(rs)) {
			continue
		}
		ok := true
		for i, seg := range rs {
			if subtree && i == len(rs)-1 {
				break
			}
			if seg != ds[i] && !(strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}")) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestRouteDocumented(t *testing.T) {
	doc := []string{"/v1/assets/{id}", "/v1/assets/{id}/proxy", "/", "/ui/app.js", "/v1/feed"}
	for _, tc := range []struct {
		route string
		want  bool
	}{
		{"/v1/assets/{id}", true},
		{"/v1/assets/{id}/{output}", true},
		{"/v1/assets/{id}/retry", false},
		{"/v1/feed", true},
		{"/v1/feeds", false},
		{"/{$}", true},
		{"/ui/", true},
		{"/v1/session", false},
	} {
		if got := routeDocumented(tc.route, doc); got != tc.want {
			t.Errorf("routeDocumented(%q) = %v, want %v", tc.route, got, tc.want)
		}
	}
}
