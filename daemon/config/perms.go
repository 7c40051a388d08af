package config

import (
	"fmt"
	"os"
	"syscall"
)

// Warning is a finding about the config's files that does not stop the
// daemon: `ingestd validate` prints it, `ingestd run` logs it and `ingestd
// doctor` reports it as WARN.
type Warning struct {
	Key string // the config key naming the file
	Msg string
}

func (w Warning) String() string { return w.Key + ": " + w.Msg }

// PermissionWarnings checks who else can read the secrets and the catalog:
//   - api.token_file and hub.webhook.token_file readable by every user, or
//     by a group other than the daemon's (the group of state_dir, which the
//     unit's StateDirectory= gives to the service group; the process's own
//     group when state_dir does not exist yet). The packaged setup, 0640
//     root:ingestd, passes;
//   - state_dir readable or searchable by every user (the catalog lists
//     every file on the NAS; the unit creates it 0750).
//
// Files that are missing are Validate's business and skipped here.
func (c *Config) PermissionWarnings() []Warning {
	var ws []Warning
	daemonGID := uint32(os.Getegid())
	if fi, err := os.Stat(c.StateDir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			daemonGID = st.Gid
		}
		if p := fi.Mode().Perm(); p&0o005 != 0 {
			ws = append(ws, Warning{Key: "state_dir", Msg: fmt.Sprintf("%s is open to every user (mode %04o): the catalog lists every file on the NAS; chmod o-rwx it", c.StateDir, p)})
		}
	}
	secret := func(key, path string) {
		if path == "" {
			return
		}
		fi, err := os.Stat(path)
		if err != nil {
			return
		}
		p := fi.Mode().Perm()
		st, _ := fi.Sys().(*syscall.Stat_t)
		switch {
		case p&0o004 != 0:
			ws = append(ws, Warning{Key: key, Msg: fmt.Sprintf("%s is readable by every user (mode %04o); chmod 0640 it, group of the daemon", path, p)})
		case p&0o040 != 0 && st != nil && st.Gid != daemonGID:
			ws = append(ws, Warning{Key: key, Msg: fmt.Sprintf("%s is readable by group %d, not the daemon's group %d (mode %04o); chgrp it to the daemon's group or chmod g-r", path, st.Gid, daemonGID, p)})
		}
	}
	secret("api.token_file", c.API.TokenFile)
	if c.Hub.Webhook != nil {
		secret("hub.webhook.token_file", c.Hub.Webhook.TokenFile)
	}
	return ws
}
