package doctor

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/diskguard"
)

// checkDiskFloor compares the free space of the paths the daemon guards
// (state_dir and the card offload volume) with disk.min_free: below it the
// daemon pauses ingest, transcode and card offload until space returns.
func checkDiskFloor(cfg *config.Config) []Finding {
	const chk = "disk floor"
	floor, err := diskguard.ParseFloor(cfg.Disk.MinFree)
	if err != nil {
		return []Finding{{Check: chk, Level: Fail, Message: "disk.min_free: " + err.Error(), Fix: "set disk.min_free to a size (2GiB) or a percentage (5%)"}}
	}
	type path struct{ name, dir string }
	paths := []path{{"state_dir", cfg.StateDir}}
	if c := cfg.Cards; c != nil {
		for _, v := range cfg.Volumes {
			if v.Name == c.OffloadTo {
				paths = append(paths, path{"offload volume " + v.Name, v.Path})
			}
		}
	}
	var out []Finding
	for _, p := range paths {
		dir := p.dir
		for { // the state dir may not exist yet: its nearest parent
			if _, err := os.Stat(dir); err == nil || dir == "/" || dir == "." {
				break
			}
			dir = filepath.Dir(dir)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			out = append(out, Finding{Check: chk, Level: Warn, Message: fmt.Sprintf("%s %s: statfs: %v", p.name, p.dir, err)})
			continue
		}
		free, total := st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
		floorB := floor.Of(total)
		msg := fmt.Sprintf("%s %s: %s free, disk.min_free %s (%s)", p.name, p.dir, human(free), cfg.Disk.MinFree, human(floorB))
		fix := "free space on that filesystem, move it to a larger disk, or lower disk.min_free"
		switch {
		case diskguard.Low(free, floorB, false):
			out = append(out, Finding{Check: chk, Level: Fail, Message: msg + ": below the floor, the daemon pauses ingest, transcode and card offload until space returns", Fix: fix})
		case free < 2*floorB:
			out = append(out, Finding{Check: chk, Level: Warn, Message: msg + ": close to the floor", Fix: fix})
		default:
			out = append(out, Finding{Check: chk, Level: OK, Message: msg})
		}
	}
	return out
}
