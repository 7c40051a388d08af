#!/usr/bin/env bash
# End-to-end test of ingestd's packages (`make package-test`; also run by
# `go test ./packaging/` through package_test.go).
#
#  1. builds two versions (V1, and V2 > V1) of the binary, .deb and .rpm
#  2. .deb: lintian (no error, no warning), control fields, conffiles, contents
#  3. .rpm: rpm -qpl / -qpc / -qpR / --scripts / file flags
#  4. unit: systemd-analyze verify (silent) against a root holding the
#     package's files, a comment on every option, security exposure
#  5. the shipped config parses strictly with the real binary
#  6. in a debootstrap'ed Debian root (minbase bookworm, cached):
#     dpkg -i (--force-depends: FFmpeg is not installed there, the Depends
#     field is checked in step 2), ingestd version, ingestd run as the
#     ingestd user until /healthz answers, upgrade keeps the edited conffile,
#     remove keeps state, purge deletes state and config but never a volume
#     (a plain volume dir, one inside the state dir, a mount inside it);
#     systemctl must never run where systemd is not PID 1
#  7. the rpm's scriptlets in the same root (rpm --root --nodeps):
#     install, upgrade (%posttrans), erase (.rpmsave, state kept)
#  8. packaging/test-systemd.sh: the .deb booted under a real systemd
#     (systemd-nspawn): notify, sandbox, marker, ingest, reload, stop
#
# Needs root. Exit status 77 (skip) when not root or a tool is missing,
# unless CI=true: then missing tools are installed with apt-get and any gap
# is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

CACHE=${INGESTD_DEBOOTSTRAP_CACHE:-/root/.cache/ingestd-debootstrap}
SUITE=bookworm

log() { printf '== %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
skip() {
	if [ "${CI:-}" = "true" ]; then fail "cannot run on CI: $*"; fi
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

# --- preconditions -------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	# CI machines that run tests as a user with passwordless sudo.
	if [ "${CI:-}" = "true" ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		exec sudo -n --preserve-env=CI,INGESTD_BUILD,INGESTD_DEBOOTSTRAP_CACHE,GOPATH,GOCACHE,GOMODCACHE,GOFLAGS \
			env PATH="$PATH" bash "$0" "$@"
	fi
	skip "needs root (chroot, dpkg and rpm into a test root)"
fi

need=()
for entry in lintian:lintian rpm:rpm debootstrap:debootstrap systemd-analyze:systemd \
	dpkg-deb:dpkg curl:curl gzip:gzip; do
	command -v "${entry%%:*}" >/dev/null 2>&1 || need+=("${entry#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	[ "${CI:-}" = "true" ] || skip "missing tools: ${need[*]} (apt-get install ${need[*]})"
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

T=$(mktemp -d /tmp/ingestd-pkgtest.XXXXXX)
ROOT=$T/root
DAEMON_PID=""
cleanup() {
	set +e
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null
	for m in "$ROOT/var/lib/ingestd/nas" "$ROOT/dev" "$ROOT/proc"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	# Never follow into anything still mounted.
	if ! grep -q " $T/" /proc/mounts; then rm -rf "$T"; else echo "leaving $T: still mounted" >&2; fi
}
trap cleanup EXIT

# --- 1. build ------------------------------------------------------------
V1=$(packaging/version.sh)
V2="$V1+upgrade"
log "building $V1 and $V2"
export DIST=$T/dist
packaging/build.sh bin "$V1" "$T/bin1/ingestd" || fail "go build ./cmd/ingestd (V1)"
packaging/build.sh bin "$V2" "$T/bin2/ingestd" || fail "go build ./cmd/ingestd (V2)"
DEB1=$(packaging/build.sh deb "$V1" "$T/bin1/ingestd" 2>"$T/nfpm.log") || { cat "$T/nfpm.log" >&2; fail "nfpm deb V1"; }
RPM1=$(packaging/build.sh rpm "$V1" "$T/bin1/ingestd" 2>"$T/nfpm.log") || { cat "$T/nfpm.log" >&2; fail "nfpm rpm V1"; }
DEB2=$(packaging/build.sh deb "$V2" "$T/bin2/ingestd" 2>"$T/nfpm.log") || { cat "$T/nfpm.log" >&2; fail "nfpm deb V2"; }
RPM2=$(packaging/build.sh rpm "$V2" "$T/bin2/ingestd" 2>"$T/nfpm.log") || { cat "$T/nfpm.log" >&2; fail "nfpm rpm V2"; }
[ "$DEB1" = "$T/dist/ingestd_${V1}_amd64.deb" ] && [ -f "$DEB1" ] || fail "deb name: $DEB1"
[ "$RPM1" = "$T/dist/ingestd-${V1}.x86_64.rpm" ] && [ -f "$RPM1" ] || fail "rpm name: $RPM1"
dpkg --compare-versions "$V2" gt "$V1" || fail "dpkg: $V2 not > $V1"
pass "built $(basename "$DEB1") and $(basename "$RPM1")"

# --- 2. deb --------------------------------------------------------------
log "lintian"
lintian --fail-on error,warning "$DEB1" 2>&1 | { grep -v "running with root privileges" || true; } ||
	fail "lintian reports errors or warnings on $(basename "$DEB1")"
pass "lintian: no errors, no warnings"

field() { dpkg-deb -f "$1" "$2"; }
[ "$(field "$DEB1" Package)" = ingestd ] || fail "Package field"
[ "$(field "$DEB1" Version)" = "$V1-1" ] || fail "Version field: $(field "$DEB1" Version)"
[ "$(field "$DEB1" Architecture)" = amd64 ] || fail "Architecture field"
[ "$(field "$DEB1" Depends)" = "ffmpeg, procps" ] || fail "Depends is '$(field "$DEB1" Depends)', want 'ffmpeg, procps' (procps: /bin/kill for ExecReload)"
dpkg-deb -e "$DEB1" "$T/control"
[ "$(cat "$T/control/conffiles")" = /etc/ingestd/ingestd.yaml ] ||
	fail "conffiles must be exactly /etc/ingestd/ingestd.yaml, got: $(tr '\n' ' ' <"$T/control/conffiles")"
for s in preinst postinst prerm postrm; do
	cmp -s "$T/control/$s" "packaging/deb/$s" || fail "deb $s is not packaging/deb/$s"
done
mkdir "$T/deb1"
dpkg-deb -x "$DEB1" "$T/deb1"
want_mode() { # path mode owner
	local got
	got=$(dpkg-deb -c "$DEB1" | awk -v p="./${1#/}" '$6 == p { print $1, $2 }')
	[ "$got" = "$2 $3" ] || fail "$1: want '$2 $3', got '$got'"
}
want_mode /usr/bin/ingestd -rwxr-xr-x root/root
want_mode /usr/bin/ingestd-enrich-stt -rwxr-xr-x root/root
want_mode /usr/share/man/man1/ingestd-enrich-stt.1.gz -rw-r--r-- root/root
[ "$(field "$DEB1" Recommends)" = "pocketsphinx, pocketsphinx-en-us" ] ||
	fail "Recommends is '$(field "$DEB1" Recommends)', want 'pocketsphinx, pocketsphinx-en-us' (ingestd-enrich-stt)"
want_mode /usr/lib/systemd/system/ingestd.service -rw-r--r-- root/root
want_mode /etc/ingestd/ingestd.yaml -rw-r--r-- root/root
want_mode /usr/lib/sysusers.d/ingestd.conf -rw-r--r-- root/root
want_mode /usr/lib/tmpfiles.d/ingestd.conf -rw-r--r-- root/root
want_mode /usr/lib/sysctl.d/60-ingestd.conf -rw-r--r-- root/root
want_mode /usr/share/doc/ingestd/copyright -rw-r--r-- root/root
cmp -s "$T/deb1/usr/lib/systemd/system/ingestd.service" systemd/ingestd.service || fail "packaged unit differs from systemd/ingestd.service"
[ -f "$T/deb1/usr/share/doc/ingestd/changelog.Debian.gz" ] || fail "no changelog.Debian.gz"
grep -qx 'fs.inotify.max_user_watches = 1048576' "$T/deb1/usr/lib/sysctl.d/60-ingestd.conf" || fail "sysctl: max_user_watches"
grep -qE '^u +ingestd ' "$T/deb1/usr/lib/sysusers.d/ingestd.conf" || fail "sysusers: user ingestd"
# The preinstall scripts carry the sysusers entries inline (the file is not
# unpacked yet when they run): they must not drift apart.
sysusers_entries=$(grep -vE '^(#|$)' packaging/sysusers.conf | tr -s ' \t' ' ')
for s in packaging/deb/preinst packaging/rpm/pre; do
	inline=$(sed -n "/^SYSUSERS='/,/'\$/p" "$s" | sed "s/^SYSUSERS='//; s/'\$//" | tr -s ' \t' ' ')
	[ "$inline" = "$sysusers_entries" ] || fail "$s: SYSUSERS differs from packaging/sysusers.conf"
done
"$T/deb1/usr/bin/ingestd" version | grep -qF "$V1" || fail "packaged binary does not report $V1"
pass "deb: fields, conffiles, scripts, modes, unit, sysctl, sysusers"

# --- 3. rpm --------------------------------------------------------------
log "rpm queries"
rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH}\n' "$RPM1" | grep -qx "ingestd $V1 1 x86_64" ||
	fail "rpm NVRA: $(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH}' "$RPM1")"
files=$(rpm -qpl "$RPM1")
for f in /usr/bin/ingestd /usr/lib/systemd/system/ingestd.service /etc/ingestd/ingestd.yaml \
	/usr/lib/sysusers.d/ingestd.conf /usr/lib/tmpfiles.d/ingestd.conf /usr/lib/sysctl.d/60-ingestd.conf \
	/usr/share/doc/ingestd/copyright /usr/bin/ingestd-enrich-stt; do
	grep -qx "$f" <<<"$files" || fail "rpm -qpl: $f missing"
done
grep -q lintian <<<"$files" && fail "rpm carries the lintian overrides"
[ "$(rpm -qpc "$RPM1")" = /etc/ingestd/ingestd.yaml ] || fail "rpm -qpc: $(rpm -qpc "$RPM1" | tr '\n' ' ')"
# %config(noreplace): file flags c (config) and n (noreplace); the unit has none.
flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$RPM1")
grep -qx '/etc/ingestd/ingestd.yaml cn' <<<"$flags" || fail "config not %config(noreplace): $(grep ingestd.yaml <<<"$flags")"
grep -qx '/usr/lib/systemd/system/ingestd.service ' <<<"$flags" || fail "unit must be a plain file: $(grep service <<<"$flags")"
rpm -qpR "$RPM1" | grep -qxF '(ffmpeg or ffmpeg-free)' || fail "rpm -qpR: no (ffmpeg or ffmpeg-free): $(rpm -qpR "$RPM1" | tr '\n' ' ')"
rpm -qpR "$RPM1" | grep -qxF '/usr/bin/kill' || fail "rpm -qpR: no /usr/bin/kill (ExecReload)"
rpm -qp --suggests "$RPM1" | grep -qxF pocketsphinx || fail "rpm --suggests: no pocketsphinx (ingestd-enrich-stt)"
scripts=$(rpm -qp --scripts "$RPM1")
for s in 'preinstall scriptlet' 'postinstall scriptlet' 'preuninstall scriptlet' 'postuninstall scriptlet' 'posttrans scriptlet'; do
	grep -q "^$s" <<<"$scripts" || fail "rpm --scripts: no $s"
done
grep -qF '"$1" -eq 1' <<<"$scripts" || fail "rpm scripts do not branch on \$1"
grep -qF "ingestd: installed but not started" packaging/rpm/post || fail "rpm post message"
pass "rpm: NVRA, files, noreplace config, (ffmpeg or ffmpeg-free), scriptlets"

# --- 4. unit -------------------------------------------------------------
log "systemd-analyze verify"
U=$T/unitroot
mkdir -p "$U/usr/lib/systemd" "$U/bin" "$U/etc/ingestd"
cp -a /usr/lib/systemd/system "$U/usr/lib/systemd/"
cp -a "$T/deb1/usr" "$U/"
cp -a "$T/deb1/etc/ingestd/ingestd.yaml" "$U/etc/ingestd/"
cp /bin/kill "$U/bin/kill"
out=$(systemd-analyze verify --man=no --root="$U" ingestd.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify is not silent: $out"
# A comment line directly above every option (the why).
nocomment=$(awk '/^\[/ || /^$/ { c = 0; next } /^#/ { c = 1; next } { if (!c) print; c = 0 }' systemd/ingestd.service)
[ -z "$nocomment" ] || fail "unit options without a comment: $nocomment"
for want in Type=notify NotifyAccess=main WatchdogSec=60 Restart=on-failure RestartSec=5 TimeoutStopSec=90 \
	User=ingestd Group=ingestd 'SupplementaryGroups=video render' StateDirectory=ingestd ProtectSystem=strict \
	ProtectHome=true PrivateTmp=true NoNewPrivileges=true Nice=10 IOSchedulingClass=best-effort \
	IOSchedulingPriority=7 CPUSchedulingPolicy=batch LimitNOFILE=65536 \
	'ExecStartPre=/usr/bin/ingestd validate -config /etc/ingestd/ingestd.yaml' \
	'ExecStart=/usr/bin/ingestd run -config /etc/ingestd/ingestd.yaml' \
	'After=network-online.target remote-fs.target local-fs.target' \
	Environment=AWS_SHARED_CREDENTIALS_FILE=/etc/ingestd/aws-credentials \
	'ReadWritePaths=-/mnt -/srv' 'ReadOnlyPaths=-/mnt/cards'; do
	grep -qxF "$want" systemd/ingestd.service || fail "unit lacks $want"
done
for banned in PrivateDevices= DynamicUser= MemoryDenyWriteExecute= DevicePolicy= DeviceAllow= ProcSubset= PrivateUsers= ProtectClock=; do
	grep -q "^$banned" systemd/ingestd.service && fail "unit sets $banned (breaks GPU or NAS ownership)"
done
sec=$(systemd-analyze security --offline=true --root="$U" ingestd.service 2>&1 | sed -n 's/.*Overall exposure level for ingestd.service: \([0-9.]*\).*/\1/p')
[ -n "$sec" ] || fail "systemd-analyze security gave no score"
awk -v s="$sec" 'BEGIN { exit !(s <= 4.0) }' || fail "exposure level $sec > 4.0"
pass "unit: verify silent, every option commented, required options, exposure $sec"

# --- 5. the shipped config ----------------------------------------------
log "shipped config"
set +e
out=$("$T/bin1/ingestd" validate -config packaging/ingestd.yaml 2>&1)
rc=$?
set -e
[ $rc = 78 ] && grep -q 'volumes' <<<"$out" || fail "shipped config: want exit 78 (EX_CONFIG) naming volumes, got $rc: $out"
# Uncomment the keys the daemon implements (everything above the proxy:
# section), point the example paths at temp dirs: it must validate.
C=$T/cfg
mkdir -p "$C/footage" "$C/audio" "$C/state"
echo token >"$C/api-token"
sed -n '/^#appliance_id:/,/^# Proxies/p' packaging/ingestd.yaml |
	sed -E 's/^#([a-z_]+:)/\1/; s/^#(  )/\1/' |
	sed -e "s|/mnt/nas/|$C/|; s|/etc/ingestd/api-token|$C/api-token|; s|^state_dir: .*|state_dir: $C/state|" \
		-e "s|^ffmpeg: .*|ffmpeg: $(command -v ffmpeg || echo /bin/true)|; s|^ffprobe: .*|ffprobe: $(command -v ffprobe || echo /bin/true)|" \
		>"$C/ingestd.yaml"
grep -q '^volumes:' "$C/ingestd.yaml" || fail "uncommenting the shipped config found no volumes"
out=$("$T/bin1/ingestd" validate -config "$C/ingestd.yaml" 2>&1) || fail "shipped config, uncommented: $out"
pass "shipped config: strict decode of every implemented key"

# --- 6. Debian root --------------------------------------------------------
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/* .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
tarball=$CACHE/$SUITE-minbase.tar.gz
if [ ! -s "$tarball" ]; then
	log "debootstrap --variant=minbase $SUITE from $mirror (cached in $tarball)"
	mkdir -p "$CACHE"
	debootstrap --variant=minbase "$SUITE" "$T/bootstrap" "$mirror" >"$T/debootstrap.log" 2>&1 ||
		{ tail -20 "$T/debootstrap.log" >&2; fail "debootstrap"; }
	tar -C "$T/bootstrap" --numeric-owner -czf "$tarball.tmp.$$" . && mv "$tarball.tmp.$$" "$tarball"
	rm -rf "$T/bootstrap"
fi
log "Debian root from $tarball"
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xzf "$tarball"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
[ ! -e "$ROOT/run/systemd/system" ] || fail "test root looks booted with systemd"
# Where systemd is not PID 1 every systemctl call must be skipped by the
# scripts' guard: this one records the call and fails, as systemctl would.
# /usr/bin: on the PATH of dpkg's and rpm's scripts alike.
[ ! -e "$ROOT/usr/bin/systemctl" ] || fail "test root has a systemctl"
cat >"$ROOT/usr/bin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >>/systemctl-calls
echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
exit 1
EOF
chmod 0755 "$ROOT/usr/bin/systemctl"
cp "$DEB1" "$DEB2" "$RPM1" "$RPM2" "$ROOT/tmp/"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
CONF=$ROOT/etc/ingestd/ingestd.yaml

log "dpkg -i $(basename "$DEB1")"
out=$(in_root dpkg -i --force-depends "/tmp/$(basename "$DEB1")" 2>&1) || fail "dpkg -i: $out"
grep -q 'installed but not started' <<<"$out" || fail "postinst did not say why it did not start: $out"
grep -q 'config: volumes: at least one volume is required' <<<"$out" || fail "postinst did not print validate's reason: $out"
in_root dpkg-query -W -f '${Status} ${Version}\n' ingestd | grep -qx "install ok installed $V1-1" ||
	fail "dpkg status: $(in_root dpkg-query -W -f '${Status} ${Version}' ingestd)"
pw=$(in_root getent passwd ingestd) || fail "no user ingestd after install"
uid=$(cut -d: -f3 <<<"$pw")
[ "$uid" -lt 1000 ] || fail "ingestd is not a system user (uid $uid)"
[ "$(cut -d: -f7 <<<"$pw")" = /usr/sbin/nologin ] || fail "ingestd has a login shell: $pw"
[ "$(in_root stat -c '%U:%G %a' /var/lib/ingestd)" = "ingestd:ingestd 750" ] ||
	fail "/var/lib/ingestd: $(in_root stat -c '%U:%G %a' /var/lib/ingestd)"
in_root ingestd version | grep -qF "$V1" || fail "ingestd version in the root: $(in_root ingestd version 2>&1)"
pass "install: user $uid, /var/lib/ingestd ingestd:ingestd 0750, ingestd version $V1"

# Configure a volume and a free port, as an admin would (the conffile edit
# that the upgrade must keep), then run the daemon as the unit would.
port=""
for _ in $(seq 20); do
	p=$((20000 + RANDOM % 40000))
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" || {
		port=$p
		break
	}
done
[ -n "$port" ] || fail "no free port"
mkdir -p "$ROOT/srv/footage/day1"
echo "master bytes" >"$ROOT/srv/footage/day1/clip001.mov"
cat >>"$CONF" <<EOF

# --- local settings (package test) ---
api:
  listen: 127.0.0.1:$port
volumes:
  - name: footage
    path: /srv/footage
EOF
cp "$CONF" "$T/conf.edited"
out=$(in_root ingestd validate -config /etc/ingestd/ingestd.yaml 2>&1) || fail "edited config: $out"

log "ingestd run as user ingestd on port $port"
# chroot and env exec: the PID is the daemon's own, as with systemd.
gid=$(cut -d: -f4 <<<"$pw")
chroot --userspec="$uid:$gid" --groups="$gid" "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/var/lib/ingestd /usr/bin/ingestd run -config /etc/ingestd/ingestd.yaml >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
up=false
for _ in $(seq 150); do
	if curl -sf --max-time 2 "http://127.0.0.1:$port/healthz" >/dev/null; then
		up=true
		break
	fi
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.2
done
$up || {
	cat "$T/daemon.log" >&2
	fail "ingestd run did not answer /healthz"
}
out=$(in_root runuser -u ingestd -- ingestd status -config /etc/ingestd/ingestd.yaml 2>&1) || fail "ingestd status: $out"
kill -TERM "$DAEMON_PID"
stopped=false
for _ in $(seq 300); do
	kill -0 "$DAEMON_PID" 2>/dev/null || {
		stopped=true
		break
	}
	sleep 0.1
done
$stopped || fail "ingestd did not stop within 30s of SIGTERM"
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=""
[ $rc = 0 ] || {
	cat "$T/daemon.log" >&2
	fail "ingestd run exited $rc after SIGTERM"
}
[ -n "$(ls -A "$ROOT/var/lib/ingestd")" ] || fail "daemon wrote nothing to /var/lib/ingestd"
bad=$(in_root find /var/lib/ingestd ! -user ingestd | head -3)
[ -z "$bad" ] || fail "state files not owned by ingestd: $bad"
pass "run: /healthz and status answered, clean exit on SIGTERM, state owned by ingestd"

log "upgrade to $V2"
out=$(in_root dpkg -i --force-depends "/tmp/$(basename "$DEB2")" 2>&1) || fail "dpkg -i (upgrade): $out"
in_root ingestd version | grep -qF "$V2" || fail "after upgrade: $(in_root ingestd version 2>&1)"
cmp -s "$CONF" "$T/conf.edited" || fail "upgrade changed the edited conffile"
[ -n "$(ls -A "$ROOT/var/lib/ingestd")" ] || fail "upgrade lost the state dir"
pass "upgrade: ingestd $V2, edited conffile and state kept"

log "remove"
in_root dpkg -r ingestd >/dev/null 2>&1 || fail "dpkg -r"
[ ! -e "$ROOT/usr/bin/ingestd" ] || fail "remove left /usr/bin/ingestd"
[ ! -e "$ROOT/usr/lib/systemd/system/ingestd.service" ] || fail "remove left the unit (conffile?)"
cmp -s "$CONF" "$T/conf.edited" || fail "remove changed the config"
[ -d "$ROOT/var/lib/ingestd" ] || fail "remove deleted the state dir"
pass "remove: binary and unit gone, config and state kept"

log "purge"
in_root dpkg --purge ingestd >/dev/null 2>&1 || fail "dpkg --purge"
[ ! -e "$ROOT/var/lib/ingestd" ] || fail "purge left /var/lib/ingestd"
[ ! -e "$ROOT/etc/ingestd" ] || fail "purge left /etc/ingestd"
[ "$(cat "$ROOT/srv/footage/day1/clip001.mov")" = "master bytes" ] || fail "purge touched the volume"
in_root getent passwd ingestd >/dev/null || fail "purge removed the system user (NAS files keep its uid)"
pass "purge: state and config gone, volume intact, user kept"

log "purge with a configured volume inside the state dir"
in_root dpkg -i --force-depends "/tmp/$(basename "$DEB1")" >/dev/null 2>&1 || fail "reinstall"
mkdir -p "$ROOT/var/lib/ingestd/incoming"
echo keep >"$ROOT/var/lib/ingestd/incoming/a.mov"
printf 'volumes:\n  - name: incoming\n    path: /var/lib/ingestd/incoming\n' >>"$CONF"
in_root dpkg --purge ingestd >/dev/null 2>&1 || fail "dpkg --purge (volume inside)"
[ "$(cat "$ROOT/var/lib/ingestd/incoming/a.mov")" = keep ] || fail "purge deleted a configured volume inside /var/lib/ingestd"
[ ! -e "$ROOT/etc/ingestd" ] || fail "purge left /etc/ingestd"
rm -rf "$ROOT/var/lib/ingestd"
pass "purge: a configured volume inside the state dir survives"

log "purge with a file system mounted inside the state dir"
in_root dpkg -i --force-depends "/tmp/$(basename "$DEB1")" >/dev/null 2>&1 || fail "reinstall"
mkdir -p "$ROOT/var/lib/ingestd/nas"
echo state >"$ROOT/var/lib/ingestd/catalog.db"
mount -t tmpfs tmpfs "$ROOT/var/lib/ingestd/nas"
echo keep >"$ROOT/var/lib/ingestd/nas/b.mov"
in_root dpkg --purge ingestd >/dev/null 2>&1 || fail "dpkg --purge (mount inside)"
[ "$(cat "$ROOT/var/lib/ingestd/nas/b.mov")" = keep ] || fail "purge deleted files on a mount inside /var/lib/ingestd"
[ ! -e "$ROOT/var/lib/ingestd/catalog.db" ] || fail "purge left the state next to the mount"
umount "$ROOT/var/lib/ingestd/nas"
rm -rf "$ROOT/var/lib/ingestd"
pass "purge: a mount inside the state dir is not crossed"

[ ! -s "$ROOT/systemctl-calls" ] || fail "systemctl called without systemd: $(cat "$ROOT/systemctl-calls")"
pass "deb scripts: no systemctl call without systemd"

# --- 7. rpm scriptlets in the same root -----------------------------------
log "rpm --root: install, upgrade, erase"
in_root userdel ingestd >/dev/null 2>&1 || true
rpmr() { rpm --root "$ROOT" --nodeps "$@"; }
out=$(rpmr -i "$RPM1" 2>&1) || fail "rpm -i: $out"
grep -q 'installed but not started' <<<"$out" || fail "rpm %post did not say why it did not start: $out"
grep -q 'config: volumes: at least one volume is required' <<<"$out" || fail "rpm %post did not print validate's reason: $out"
[ "$(rpm --root "$ROOT" -q --qf '%{VERSION}' ingestd)" = "$V1" ] || fail "rpm -q after install"
in_root getent passwd ingestd >/dev/null || fail "rpm %pre created no user"
[ "$(in_root stat -c '%U:%G %a' /var/lib/ingestd)" = "ingestd:ingestd 750" ] || fail "rpm: /var/lib/ingestd"
cp "$T/conf.edited" "$CONF"
out=$(rpmr -U "$RPM2" 2>&1) || fail "rpm -U: $out"
in_root ingestd version | grep -qF "$V2" || fail "rpm upgrade: $(in_root ingestd version 2>&1)"
cmp -s "$CONF" "$T/conf.edited" || fail "rpm upgrade changed the edited config"
[ ! -e "$ROOT/var/lib/rpm-state/ingestd/restart" ] || fail "rpm %posttrans did not run"
out=$(rpmr -e ingestd 2>&1) || fail "rpm -e: $out"
[ ! -e "$ROOT/usr/bin/ingestd" ] || fail "rpm -e left the binary"
cmp -s "$CONF.rpmsave" "$T/conf.edited" || fail "rpm -e did not keep the edited config as .rpmsave"
[ -d "$ROOT/var/lib/ingestd" ] || fail "rpm -e deleted the state dir"
[ "$(cat "$ROOT/srv/footage/day1/clip001.mov")" = "master bytes" ] || fail "rpm touched the volume"
[ ! -s "$ROOT/systemctl-calls" ] || fail "systemctl called without systemd: $(cat "$ROOT/systemctl-calls")"
pass "rpm: install (user, state dir), upgrade keeps config, erase keeps .rpmsave and state"

# --- 8. under a real systemd ----------------------------------------------
# Tear down the dpkg/rpm root first: the boot test builds its own.
umount "$ROOT/dev" && umount "$ROOT/proc" || fail "cannot unmount the test root's /dev and /proc"
! grep -q " $ROOT/" /proc/mounts || fail "mounts left under $ROOT"
rm -rf "$ROOT"
log "systemd boot test (packaging/test-systemd.sh)"
rc=0
bash packaging/test-systemd.sh "$DEB1" || rc=$?
case $rc in
0) ;;
77) echo "SKIP: systemd boot test (see above)" >&2 ;;
*) fail "systemd boot test" ;;
esac

log "all package tests passed"
