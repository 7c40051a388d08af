#!/usr/bin/env bash
# Boots the .deb under a real systemd (systemd-nspawn -b on a Debian root
# with systemd installed) and checks the unit as shipped:
#   Type=notify READY/STATUS, User=ingestd with video+render, NoNewPrivs and
#   seccomp in force, the volume marker written through ReadWritePaths=-/srv
#   under ProtectSystem=strict, a file ingested into /var/lib/ingestd,
#   `systemctl reload` (ExecReload) keeps the main PID, `systemctl stop` is a
#   clean exit, and (when the root has FFmpeg) an x264 encode under the
#   unit's exact sandbox.
#
#   packaging/test-systemd.sh DEB
#
# Called by test.sh (step 8) with the package it built. The root is cached as
# a tarball next to the debootstrap one. INGESTD_SYSTEMD_FFMPEG=1 installs
# FFmpeg into that root too (a larger cache, ~1-2 more minutes once).
# Exit status 77 (skip) where systemd-nspawn cannot boot a container, unless
# CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=${1:?usage: packaging/test-systemd.sh DEB}
DEB=$(realpath "$DEB")
CACHE=${INGESTD_DEBOOTSTRAP_CACHE:-/root/.cache/ingestd-debootstrap}
SUITE=bookworm
WITH_FFMPEG=${INGESTD_SYSTEMD_FFMPEG:-0}

log() { printf '== %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	[ -n "${INIT:-}" ] && in_ct journalctl -u ingestd --no-pager 2>/dev/null | tail -30 >&2
	exit 1
}
skip() {
	if [ "${CI:-}" = "true" ]; then fail "cannot run on CI: $*"; fi
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root"
if ! command -v systemd-nspawn >/dev/null 2>&1; then
	[ "${CI:-}" = "true" ] || skip "systemd-nspawn missing (apt-get install systemd-container)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd-container >/dev/null
fi
base=$CACHE/$SUITE-minbase.tar.gz
[ -s "$base" ] || skip "no $base (test.sh builds it)"

T=$(mktemp -d /tmp/ingestd-systemd.XXXXXX)
ROOT=$T/root
NSPAWN=""
INIT=""
MOUNTED_RUN=false
cleanup() {
	set +e
	if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
		kill -TERM "$NSPAWN"
		for _ in $(seq 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPAWN" 2>/dev/null
	fi
	mountpoint -q "$ROOT/proc" && umount -l "$ROOT/proc"
	$MOUNTED_RUN && umount -l /run/systemd/nspawn
	if ! grep -q " $T/" /proc/mounts; then rm -rf "$T"; fi
}
trap cleanup EXIT

# --- a Debian root with systemd (cached) ----------------------------------
name=$SUITE-systemd
pkgs="systemd systemd-sysv dbus procps"
if [ "$WITH_FFMPEG" = 1 ]; then
	name=$SUITE-systemd-ffmpeg
	pkgs="$pkgs ffmpeg"
fi
tarball=$CACHE/$name.tar.gz
mkdir -p "$ROOT"
if [ ! -s "$tarball" ]; then
	log "building $tarball: minbase + $pkgs"
	tar -C "$ROOT" --numeric-owner -xzf "$base"
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
	mount -t proc proc "$ROOT/proc"
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs && apt-get clean" \
		>"$T/apt.log" 2>&1 || {
		tail -20 "$T/apt.log" >&2
		fail "apt-get install $pkgs in the root"
	}
	umount "$ROOT/proc"
	tar -C "$ROOT" --numeric-owner -czf "$tarball.tmp.$$" . && mv "$tarball.tmp.$$" "$tarball"
else
	log "root from $tarball"
	tar -C "$ROOT" --numeric-owner -xzf "$tarball"
fi

# --- install and configure as an admin would ------------------------------
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
cp "$DEB" "$ROOT/tmp/ingestd.deb"
force=--force-depends
[ "$WITH_FFMPEG" = 1 ] && force=""
out=$(in_root dpkg -i $force /tmp/ingestd.deb 2>&1) || fail "dpkg -i: $out"
# This root has systemd-sysusers: the user comes from the sysusers path.
groups=$(in_root id -nG ingestd) || fail "no user ingestd"
for g in ingestd video render; do
	grep -qw "$g" <<<"$groups" || fail "ingestd is not in group $g ($groups)"
done
mkdir -p "$ROOT/srv/footage/day1"
echo "master bytes" >"$ROOT/srv/footage/day1/clip001.mov"
# The NAS share grants the ingestd group write access (marker file).
in_root chown -R root:ingestd /srv/footage
chmod 2775 "$ROOT/srv/footage"
cat >>"$ROOT/etc/ingestd/ingestd.yaml" <<'EOF'

# --- local settings (systemd test) ---
settle: 1s
volumes:
  - name: footage
    path: /srv/footage
EOF
out=$(in_root ingestd validate -config /etc/ingestd/ingestd.yaml 2>&1) || fail "config: $out"
in_root systemctl enable ingestd.service >/dev/null 2>&1 || fail "systemctl enable (offline)"
if [ "$WITH_FFMPEG" = 1 ]; then
	# The unit's own [Service] sandbox around an FFmpeg encode: every line
	# but the daemon's Exec*, notify, watchdog and restart settings.
	{
		printf '[Unit]\nDescription=FFmpeg under the ingestd sandbox\n[Service]\nType=oneshot\n'
		printf 'ExecStart=/usr/bin/ffmpeg -hide_banner -nostdin -loglevel error -f lavfi -i testsrc2=s=320x180:r=25 -frames:v 50 -c:v libx264 -pix_fmt yuv420p -movflags +faststart -y /var/lib/ingestd/sandbox-check.mp4\n'
		sed -n '/^\[Service\]/,/^\[Install\]/p' systemd/ingestd.service |
			grep -vE '^(\[|#|$|Type=|NotifyAccess=|Exec|WatchdogSec=|Restart|KillMode=|TimeoutStopSec=)'
	} >"$ROOT/etc/systemd/system/ingestd-ffmpeg-check.service"
fi

# --- boot -----------------------------------------------------------------
# nspawn refuses to clean up its propagation dir on a non-tmpfs /run.
if [ "$(stat -f -c %T /run 2>/dev/null)" != tmpfs ] && ! mountpoint -q /run/systemd/nspawn; then
	mkdir -p /run/systemd/nspawn
	mount -t tmpfs tmpfs /run/systemd/nspawn
	MOUNTED_RUN=true
fi
log "booting the root with systemd-nspawn"
systemd-nspawn -q -D "$ROOT" -b --private-network --register=no --keep-unit --console=pipe \
	>"$T/boot.log" 2>&1 &
NSPAWN=$!
in_ct() { nsenter -t "$INIT" -a /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
state=""
for _ in $(seq 120); do
	kill -0 "$NSPAWN" 2>/dev/null || break
	INIT=$(pgrep -P "$NSPAWN" -x systemd | head -1 || true)
	if [ -n "$INIT" ]; then
		state=$(in_ct systemctl is-system-running 2>/dev/null || true)
		case "$state" in running | degraded) break ;; esac
	fi
	sleep 0.5
done
case "$state" in
running | degraded) ;;
*)
	cat "$T/boot.log" >&2
	INIT=""
	skip "systemd-nspawn could not boot the root here (state '$state')"
	;;
esac
pass "booted: system $state"

show() { in_ct systemctl show ingestd.service -p "$1" --value; }
for _ in $(seq 60); do
	[ "$(show ActiveState)" = active ] && break
	sleep 0.5
done
[ "$(show ActiveState)/$(show SubState)" = active/running ] || fail "ingestd.service is $(show ActiveState)/$(show SubState)"
[ "$(show Type)" = notify ] || fail "Type=$(show Type)"
status=$(show StatusText)
[[ "$status" == watching* ]] || fail "STATUS= from the daemon: '$status'"
[ "$(show WatchdogUSec)" = 1min ] || fail "WatchdogUSec=$(show WatchdogUSec)"
pid=$(show MainPID)
[ "$pid" -gt 0 ] || fail "no MainPID"
procstatus=$(in_ct cat "/proc/$pid/status")
uid=$(in_ct id -u ingestd)
grep -qE "^Uid:[[:space:]]+$uid[[:space:]]" <<<"$procstatus" || fail "daemon does not run as ingestd: $(grep ^Uid <<<"$procstatus")"
for g in video render; do
	gid=$(in_ct getent group "$g" | cut -d: -f3)
	grep -E '^Groups:' <<<"$procstatus" | grep -qw "$gid" || fail "daemon lacks supplementary group $g"
done
grep -qE '^NoNewPrivs:[[:space:]]+1' <<<"$procstatus" || fail "NoNewPrivs not set"
grep -qE '^Seccomp:[[:space:]]+2' <<<"$procstatus" || fail "no seccomp filter"
grep -qE '^CapEff:[[:space:]]+0+$' <<<"$procstatus" || fail "daemon has capabilities: $(grep ^CapEff <<<"$procstatus")"
# No device allow-list: GPU nodes (/dev/dri, /dev/nvidia*) stay reachable.
[ "$(show DevicePolicy)" = auto ] && [ -z "$(show DeviceAllow)" ] ||
	fail "device access restricted: DevicePolicy=$(show DevicePolicy) DeviceAllow=$(show DeviceAllow)"
pass "ingestd.service active, READY+STATUS '$status', uid $uid with video+render, NoNewPrivs, seccomp, no caps"

for _ in $(seq 40); do
	[ -f "$ROOT/srv/footage/.ingestd-volume" ] && break
	sleep 0.25
done
[ -f "$ROOT/srv/footage/.ingestd-volume" ] || fail "no volume marker: ReadWritePaths=-/srv not effective"
pass "volume marker written under ProtectSystem=strict"

found=false
for _ in $(seq 60); do
	if in_ct ingestd assets --json -config /etc/ingestd/ingestd.yaml 2>/dev/null | grep -q clip001.mov; then
		found=true
		break
	fi
	sleep 0.5
done
$found || fail "clip001.mov never reached the catalog"
[ "$(cat "$ROOT/srv/footage/day1/clip001.mov")" = "master bytes" ] || fail "the master changed"
pass "a file on the volume was ingested; the master is unchanged"

in_ct systemctl reload ingestd.service || fail "systemctl reload"
sleep 1
[ "$(show ActiveState)" = active ] && [ "$(show MainPID)" = "$pid" ] && [ "$(show NRestarts)" = 0 ] ||
	fail "after reload: $(show ActiveState), MainPID $(show MainPID) (was $pid), NRestarts $(show NRestarts)"
pass "reload (ExecReload, SIGHUP): same main PID, still active"

if [ "$WITH_FFMPEG" = 1 ]; then
	in_ct systemctl start ingestd-ffmpeg-check.service || fail "FFmpeg under the sandbox: $(in_ct journalctl -u ingestd-ffmpeg-check --no-pager | tail -5)"
	in_ct ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,nb_read_frames -of csv=p=0 \
		/var/lib/ingestd/sandbox-check.mp4 | grep -qx 'h264,50' || fail "FFmpeg output under the sandbox"
	pass "FFmpeg (libx264) encodes under the unit's sandbox"
fi

in_ct systemctl stop ingestd.service || fail "systemctl stop"
[ "$(show Result)" = success ] && [ "$(show ExecMainStatus)" = 0 ] ||
	fail "stop: Result=$(show Result) ExecMainStatus=$(show ExecMainStatus)"
pass "stop: clean exit (Result=success, status 0)"

# A broken config: ExecStartPre refuses it, naming the key, and systemd
# stops retrying (StartLimitBurst) instead of looping every RestartSec.
cp "$ROOT/etc/ingestd/ingestd.yaml" "$T/good.yaml"
echo "hash_workers: many" >>"$ROOT/etc/ingestd/ingestd.yaml"
in_ct systemctl start ingestd.service 2>/dev/null && fail "started with a broken config"
gaveup=false
for _ in $(seq 90); do
	# failed/failed is final; between retries it is activating/auto-restart.
	if [ "$(show ActiveState)/$(show SubState)" = failed/failed ]; then
		gaveup=true
		break
	fi
	sleep 0.5
done
$gaveup || fail "broken config: still retrying: $(show ActiveState)/$(show SubState) NRestarts=$(show NRestarts)"
n=$(show NRestarts)
sleep 7 # longer than RestartSec
[ "$(show ActiveState)/$(show NRestarts)" = "failed/$n" ] && [ "$n" -le 5 ] ||
	fail "broken config: retried after giving up: $(show ActiveState) NRestarts=$(show NRestarts) (was $n)"
named=false
for _ in $(seq 20); do # journald stores stream output asynchronously
	if in_ct journalctl -u ingestd.service --no-pager | grep -q 'config: hash_workers'; then
		named=true
		break
	fi
	sleep 0.5
done
$named || fail "the journal does not name the bad key"
pass "broken config: ExecStartPre names the key, systemd gives up after $(show NRestarts) restarts"
cp "$T/good.yaml" "$ROOT/etc/ingestd/ingestd.yaml"
in_ct systemctl reset-failed ingestd.service
in_ct systemctl start ingestd.service || fail "start after fixing the config"
[ "$(show ActiveState)" = active ] || fail "not active after fixing the config"
in_ct systemctl stop ingestd.service || fail "systemctl stop"
[ "$(show Result)" = success ] && [ "$(show ExecMainStatus)" = 0 ] ||
	fail "stop: Result=$(show Result) ExecMainStatus=$(show ExecMainStatus)"
pass "fixed config: starts again, stops cleanly"
log "systemd tests passed"
