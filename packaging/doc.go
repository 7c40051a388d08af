// Package packaging holds ingestd's .deb and .rpm packaging: the nfpm
// config, the separate deb and rpm maintainer scripts, the shipped config,
// sysusers.d, tmpfiles.d and sysctl.d files, and test.sh, which builds the
// packages and installs, upgrades and purges them in a debootstrap'ed Debian
// root. It owns no Go code of the daemon and must not import any: the
// packages wrap whatever `go build ./cmd/ingestd` yields. The unit file is in
// ../systemd.
package packaging
