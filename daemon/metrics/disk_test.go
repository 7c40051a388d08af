package metrics

import (
	"testing"

	"github.com/ingestd/ingestd/daemon/diskguard"
)

// The free-space guard's series: per path free bytes, floor and low flag,
// and the daemon-wide paused flag.
func TestDiskMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   diskguard.Status
		low  float64
	}{
		{"ok", diskguard.Status{Paths: []diskguard.PathStatus{{Name: "state_dir", Path: "/var/lib/ingestd", FreeBytes: 5 << 30, MinFreeBytes: 2 << 30}}}, 0},
		{"low", diskguard.Status{Low: true, Paths: []diskguard.PathStatus{{Name: "state_dir", Path: "/var/lib/ingestd", FreeBytes: 1 << 20, MinFreeBytes: 2 << 30, Low: true}}}, 1},
	} {
		st := tc.st
		fams := scrape(t, Handler(Sources{Parts: []Part{Disk(func() (diskguard.Status, bool) { return st, true })}}))
		lbl := map[string]string{"name": "state_dir", "path": "/var/lib/ingestd"}
		if v, ok := value(t, fams, "ingestd_disk_free_bytes", lbl); !ok || v != float64(st.Paths[0].FreeBytes) {
			t.Errorf("%s: disk_free_bytes %v %v", tc.name, v, ok)
		}
		if v, ok := value(t, fams, "ingestd_disk_min_free_bytes", lbl); !ok || v != float64(2<<30) {
			t.Errorf("%s: disk_min_free_bytes %v %v", tc.name, v, ok)
		}
		if v, ok := value(t, fams, "ingestd_disk_low", lbl); !ok || v != tc.low {
			t.Errorf("%s: disk_low %v %v, want %v", tc.name, v, ok, tc.low)
		}
		if v, ok := value(t, fams, "ingestd_disk_paused", nil); !ok || v != tc.low {
			t.Errorf("%s: disk_paused %v %v, want %v", tc.name, v, ok, tc.low)
		}
	}
	// Guard not running: no series.
	fams := scrape(t, Handler(Sources{Parts: []Part{Disk(func() (diskguard.Status, bool) { return diskguard.Status{}, false })}}))
	if _, ok := fams["ingestd_disk_paused"]; ok {
		t.Error("disk series without a guard")
	}
}
