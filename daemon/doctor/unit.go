package doctor

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/ingestd/ingestd/daemon/config"
)

// unitDirs are searched for ingestd.service and its drop-ins, highest
// priority first, as systemd does (a variable for tests).
var unitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// unitName is the packaged service.
const unitName = "ingestd.service"

// unitSandbox is what the service's [Service] section (unit plus drop-ins)
// says about file access.
type unitSandbox struct {
	file          string // the unit file found
	user          string
	protectSystem string
	protectHome   string
	privateTmp    bool
	privateMounts bool
	capBounding   *string // CapabilityBoundingSet= as written (nil: not set, all)
	syscallFilter []string
	readWrite     []string
	stateDirs     []string // /var/lib/<StateDirectory=>, always writable
	readOnly      []string
	inaccessible  []string
}

// loadUnit reads ingestd.service and its drop-ins (ingestd.service.d/*.conf;
// a drop-in name in a higher-priority directory hides the same name
// below; all are applied in name order). ok is false when no unit is
// installed (not run under systemd: nothing to check).
func loadUnit() (u unitSandbox, ok bool) {
	var files []string
	for _, d := range unitDirs {
		p := filepath.Join(d, unitName)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
			break
		}
	}
	if len(files) == 0 {
		return u, false
	}
	u.file = files[0]
	dropins := map[string]string{}
	for i := len(unitDirs) - 1; i >= 0; i-- { // higher priority last: it wins
		ms, _ := filepath.Glob(filepath.Join(unitDirs[i], unitName+".d", "*.conf"))
		for _, m := range ms {
			dropins[filepath.Base(m)] = m
		}
	}
	names := make([]string, 0, len(dropins))
	for n := range dropins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, dropins[n])
	}
	list := func(dst *[]string, v string) {
		if v == "" {
			*dst = nil // an empty assignment resets the list
			return
		}
		for _, f := range strings.Fields(v) {
			*dst = append(*dst, strings.TrimLeft(f, "-+"))
		}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		section := ""
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" || l[0] == '#' || l[0] == ';' {
				continue
			}
			if l[0] == '[' {
				section = l
				continue
			}
			k, v, found := strings.Cut(l, "=")
			if !found || section != "[Service]" {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch k {
			case "User":
				u.user = v
			case "ProtectSystem":
				u.protectSystem = v
			case "ProtectHome":
				u.protectHome = v
			case "PrivateMounts":
				u.privateMounts = v == "yes" || v == "true" || v == "on" || v == "1"
			case "CapabilityBoundingSet":
				c := v
				u.capBounding = &c
			case "SystemCallFilter":
				if v == "" {
					u.syscallFilter = nil
				} else {
					u.syscallFilter = append(u.syscallFilter, v)
				}
			case "PrivateTmp":
				u.privateTmp = v == "yes" || v == "true" || v == "on" || v == "1"
			case "ReadWritePaths":
				list(&u.readWrite, v)
			case "ReadOnlyPaths":
				list(&u.readOnly, v)
			case "InaccessiblePaths":
				list(&u.inaccessible, v)
			case "StateDirectory":
				u.stateDirs = nil
				for _, d := range strings.Fields(v) {
					u.stateDirs = append(u.stateDirs, filepath.Join("/var/lib", d))
				}
			}
		}
		fh.Close()
	}
	return u, true
}

// noUnmount says why the service cannot unmount a host mount ("" when it
// can): umount(2) needs CAP_SYS_ADMIN and the @mount system calls, and any
// mount namespace of its own (ProtectSystem=, PrivateMounts=,
// ReadOnlyPaths=...) is a slave of the host's, so an unmount there never
// reaches the host.
func (u unitSandbox) noUnmount() string {
	var why []string
	if u.capBounding != nil && !strings.Contains(*u.capBounding, "CAP_SYS_ADMIN") {
		why = append(why, "CapabilityBoundingSet= without CAP_SYS_ADMIN")
	}
	for _, f := range u.syscallFilter {
		if strings.HasPrefix(f, "~") && strings.Contains(f, "@mount") {
			why = append(why, "SystemCallFilter= denies @mount")
			break
		}
	}
	if u.protectSystem != "" && u.protectSystem != "no" || u.privateMounts || len(u.readOnly) > 0 || len(u.readWrite) > 0 {
		why = append(why, "its own mount namespace (ProtectSystem=, PrivateMounts=, ReadWritePaths=)")
	}
	if u.user != "" && u.user != "root" && (u.capBounding == nil || !strings.Contains(*u.capBounding, "CAP_SYS_ADMIN")) {
		why = append(why, "User="+u.user+" without the capability")
	}
	return strings.Join(why, "; ")
}

// access is what the sandbox leaves of path: "rw", "ro", "none" or
// "private" (PrivateTmp: writable, but a folder of its own, emptied at
// each stop). The
// most specific (longest) configured path wins, as systemd applies nested
// mounts last.
func (u unitSandbox) access(path string) string {
	best, mode := -1, "rw"
	switch u.protectSystem {
	case "strict":
		best, mode = 0, "ro"
	case "full", "yes", "true":
		for _, p := range []string{"/usr", "/boot", "/efi", "/etc"} {
			if within(path, p) && len(p) > best {
				best, mode = len(p), "ro"
			}
		}
	}
	switch u.protectHome {
	case "yes", "true", "tmpfs":
		for _, p := range []string{"/home", "/root", "/run/user"} {
			if within(path, p) && len(p) > best {
				best, mode = len(p), "none"
			}
		}
	case "read-only":
		for _, p := range []string{"/home", "/root", "/run/user"} {
			if within(path, p) && len(p) > best {
				best, mode = len(p), "ro"
			}
		}
	}
	for _, l := range []struct {
		paths []string
		mode  string
	}{{u.readWrite, "rw"}, {u.stateDirs, "rw"}, {u.readOnly, "ro"}, {u.inaccessible, "none"}} {
		for _, p := range l.paths {
			p = filepath.Clean(p)
			if within(path, p) && len(p) >= best {
				best, mode = len(p), l.mode
			}
		}
	}
	if u.privateTmp && (within(path, "/tmp") || within(path, "/var/tmp")) && mode != "none" {
		return "private"
	}
	return mode
}

func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// sandboxPath makes path absolute with symlinks resolved as far as it
// exists (the sandbox's bind mounts act on the resolved path).
func sandboxPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return config.RealPath(abs)
}

// checkUnit compares the installed service's sandbox and user with the
// config: `ingestd doctor` runs in an admin's shell, outside the sandbox
// and usually as root, so a state_dir or card destination the service
// cannot write (ProtectSystem=strict without ReadWritePaths=, or a folder
// the service user does not own) would otherwise pass here and fail only
// in the journal.
func checkUnit(cfg *config.Config) []Finding {
	u, ok := loadUnit()
	if !ok {
		return nil
	}
	const chk = "service"
	var fs []Finding
	dropin := "systemctl edit ingestd, then add under [Service]: "
	need := func(key, path string, level Level, why string) {
		r := sandboxPath(path)
		switch u.access(r) {
		case "rw":
			if f, bad := userCannotWrite(u.user, r, key, level, why); bad {
				fs = append(fs, f)
			}
		case "ro":
			fs = append(fs, Finding{Check: chk, Level: level,
				Message: fmt.Sprintf("%s %s is read-only for the service (%s sandbox: ProtectSystem=%s, ReadWritePaths=%s): %s", key, path, u.file, u.protectSystem, strings.Join(u.readWrite, " "), why),
				Fix:     dropin + "ReadWritePaths=" + r})
		case "private":
			fs = append(fs, Finding{Check: chk, Level: Fail,
				Message: fmt.Sprintf("%s %s is under /tmp, which the service sees as its own empty folder (PrivateTmp=yes in %s): what it writes there is not this folder and is deleted at every stop", key, path, u.file),
				Fix:     "move it out of /tmp and /var/tmp (e.g. /var/lib/ingestd, /srv)"})
		default:
			fs = append(fs, Finding{Check: chk, Level: Fail,
				Message: fmt.Sprintf("%s %s is hidden from the service (%s sandbox: ProtectHome=%s, InaccessiblePaths=%s)", key, path, u.file, u.protectHome, strings.Join(u.inaccessible, " ")),
				Fix:     dropin + "ProtectHome=read-only (or move it out of /home)"})
		}
	}
	need("state_dir", cfg.StateDir, Fail, "the catalog cannot be opened")
	dest := map[string]bool{}
	if cfg.Cards != nil {
		for _, d := range cfg.Cards.Dests() {
			dest[d.Volume] = true
		}
	}
	for i, v := range cfg.Volumes {
		key := fmt.Sprintf("volumes[%d].path", i)
		if dest[v.Name] {
			need(key, v.Path, Fail, "cards are offloaded into it")
			continue
		}
		r := sandboxPath(v.Path)
		switch u.access(r) {
		case "none", "private":
			need(key, v.Path, Fail, "")
		case "ro":
			fs = append(fs, Finding{Check: chk, Level: Warn,
				Message: fmt.Sprintf("%s %s is read-only for the service: it is ingested, but its .ingestd-volume marker cannot be written, so a remount or a move of the share reads as a new volume", key, v.Path),
				Fix:     dropin + "ReadWritePaths=" + r})
		}
	}
	if cfg.Cards != nil && cfg.Cards.EjectWhenSafe {
		if why := u.noUnmount(); why != "" {
			fs = append(fs, Finding{Check: chk, Level: Warn,
				Message: fmt.Sprintf("cards.eject_when_safe: the service cannot unmount a card (%s in %s): cards are announced SAFE TO FORMAT but stay mounted", why, u.file),
				Fix:     "unmount cards from the desktop or with umount, and set cards.eject_when_safe: false"})
		}
	}
	if len(fs) == 0 {
		who := ""
		if u.user != "" {
			who = " and user " + u.user
		}
		fs = append(fs, Finding{Check: chk, Level: OK, Message: fmt.Sprintf("%s: its sandbox%s can write state_dir and every offload destination", u.file, who)})
	}
	return fs
}

// userCannotWrite checks, when doctor runs as root for a service with
// User=, that the user could create files in path (its nearest existing
// folder when it does not exist yet) by owner, group and mode bits. Root
// passes every access check itself, so without this `sudo ingestd doctor`
// says OK to a root-owned state_dir the service cannot write. ACLs are not
// read: a folder writable only through an ACL is reported (Warn).
func userCannotWrite(name, path, key string, level Level, why string) (Finding, bool) {
	if name == "" || os.Geteuid() != 0 {
		return Finding{}, false
	}
	usr, err := user.Lookup(name)
	if err != nil {
		return Finding{Check: "service", Level: Warn, Message: fmt.Sprintf("the service runs as %s, which does not exist here: %v", name, err),
			Fix: "install the package (it creates the user) or correct User= in a drop-in"}, true
	}
	uid, _ := strconv.Atoi(usr.Uid)
	gids := map[uint32]bool{}
	if g, err := strconv.Atoi(usr.Gid); err == nil {
		gids[uint32(g)] = true
	}
	if gs, err := usr.GroupIds(); err == nil {
		for _, g := range gs {
			if n, err := strconv.Atoi(g); err == nil {
				gids[uint32(n)] = true
			}
		}
	}
	dir := path
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return Finding{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || uid == 0 {
		return Finding{}, false
	}
	m := fi.Mode().Perm()
	var can bool
	switch {
	case st.Uid == uint32(uid):
		can = m&0o300 == 0o300
	case gids[st.Gid]:
		can = m&0o030 == 0o030
	default:
		can = m&0o003 == 0o003
	}
	if can {
		return Finding{}, false
	}
	what := path
	if dir != path {
		what = fmt.Sprintf("%s (does not exist yet; its parent %s)", path, dir)
	}
	return Finding{Check: "service", Level: level,
		Message: fmt.Sprintf("%s %s is not writable by the service user %s (owner %d, group %d, mode %04o): %s", key, what, name, st.Uid, st.Gid, m, why),
		Fix:     fmt.Sprintf("chown %s:%s %s (or grant its group write access)", name, name, dir)}, true
}
