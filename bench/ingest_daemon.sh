#!/usr/bin/env bash
# bench/ingest_daemon.sh: the REAL DAEMON binary's first durable ingest of a
# tree of small files, next to b3sum over the same tree in the same run
# (called by `make bench` after bench/ingest.sh; issue 15 items 1-3).
#
# For each size (TREE_FILES, default 100,000; and 1,000,000 with
# INGEST_1M=1) it:
#   1. writes a new tree of N small files in tmpfs (100 per folder),
#   2. times `find | xargs b3sum --num-threads 1` over it (best of TRIALS,
#      wall and CPU),
#   3. starts `ingestd run` on it with a new state dir (proxies, sequences
#      and analysis off: the ingest path alone) and times from the start of
#      the process until /v1/status counts N files in the volume (every one
#      hashed, cataloged and synced: the catalog acknowledges a file only
#      once its write is fsynced), sampling /proc/PID/status every 0.2 s:
#      VmHWM (peak RSS), and the peaks of RssAnon (Go heap, stacks) and
#      RssFile (Badger's memory-mapped tables and logs) apart,
#   4. leaves it idle STEADY_S seconds (default 10) and prints the RSS then
#      (steady), then pages every asset (/v1/assets, 1000 a page) and the
#      whole feed (/v1/feed, 1000 a page) through the API, printing the
#      time of the first and the last page and the RSS peak while paging,
#   5. stops it (SIGTERM), times `find -printf '%s %T@\n'` over the tree
#      (best of TRIALS), restarts the daemon on the same catalog and times
#      until its rescan of the unchanged tree is done (the status's
#      last_scan), with that process's peak RSS; then has the running
#      daemon rescan it TRIALS times (POST /v1/volumes/bench/rescan), each
#      after a find run (find's best of all its runs), and prints both
#      walks' own time (last_scan_seconds; the running one's best) next to
#      find's, and how many files it hashed again (none is right).
# Goals (issue 15): first ingest <= 5x b3sum; RSS <= 256 MB at peak and
# steady, including the mapped files.
# Env: BENCH_DIR (default /dev/shm), TREE_FILES=100000, TRIALS=3,
#      STEADY_S=10, INGEST_1M=1 (adds the 1M run: about 3 GiB of tmpfs and
#      2.5-3 minutes on the 2-core box at load 1-3; it took 6-18 before
#      session 8), KEEP=1 (keep the trees), SETTLE
#      (the daemon's settle time, default 1s; walked files whose ctime is
#      older are hashed at once). GOMEMLIMIT passes through to the daemon.
# The daemon runs as configured here (proxies off), so its transcode stage
# still probes every cataloged file with ffprobe (a process per file)
# beside the ingest: on 2 cores that takes CPU from it, as it would in
# production; the ingest is done when the status counts N files, whether
# or not the probes have caught up.
set -euo pipefail
cd "$(dirname "$0")/.."

TREE_FILES=${TREE_FILES:-100000}
TRIALS=${TRIALS:-3}
STEADY_S=${STEADY_S:-10}
base=${BENCH_DIR:-/dev/shm}
work=$(mktemp -d "$base/ingestd-daemon-bench.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
	if [ "${KEEP:-}" != 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
for tool in b3sum curl find; do
	command -v "$tool" >/dev/null || { echo "daemon ingest bench: $tool not installed (scripts/deps.sh installs it)"; exit 1; }
done
go build -o "$work/ingestd" ./cmd/ingestd
go build -o "$work/ingestbench" ./bench/ingest

now() { date +%s.%N; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
keep() { if [ -z "${!1}" ] || lt "$2" "${!1}"; then printf -v "$1" '%s' "$2"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { awk -v k="$1:" '$1==k { print $2 }' "/proc/$2/status" 2>/dev/null || echo 0; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

# sampler PID FILE: writes "ANON_PEAK FILE_PEAK SHMEM_PEAK" (KiB) to FILE
# every 0.2 s while PID lives. Mapped files on tmpfs count as RssShmem,
# on a disk filesystem as RssFile.
sampler() {
	local p=$1 out=$2
	echo "0 0 0" >"$out"
	while kill -0 "$p" 2>/dev/null; do
		awk 'NR==FNR { pa=$1; pf=$2; ps=$3; next }
			$1=="RssAnon:" && $2>pa { pa=$2 } $1=="RssFile:" && $2>pf { pf=$2 } $1=="RssShmem:" && $2>ps { ps=$2 }
			END { print pa, pf, ps }' "$out" "/proc/$p/status" >"$out.tmp" 2>/dev/null && mv "$out.tmp" "$out"
		sleep 0.2
	done
}

# rss_now: sets rss_line to the daemon's RSS now, and its parts.
rss_now() {
	rss_line="$(mb "$(field VmRSS "$pid")") MB (anon $(mb "$(field RssAnon "$pid")"), file-backed $(mb "$(field RssFile "$pid")"), shmem $(mb "$(field RssShmem "$pid")"))"
}

# files_in ADDR: the volume's file count from /v1/status.
files_in() {
	local n
	n=$(curl -fsS "http://$1/v1/status" 2>/dev/null | tr -d ' \n' | grep -o '"name":"bench"[^}]*' | grep -o '"files":[0-9]*' | cut -d: -f2)
	echo "${n:-0}"
}

# start_daemon STATE TREE: starts ingestd, sets pid, addr, t_start.
start_daemon() {
	local state=$1 tree=$2
	addr="127.0.0.1:$(port)"
	cat >"$work/ingestd.yaml" <<EOF
state_dir: $state
settle: ${SETTLE:-1s}
rescan: 1h
api:
  listen: $addr
proxy:
  enabled: false
sequences:
  enabled: false
analysis:
  enabled: false
volumes:
  - name: bench
    path: $tree
EOF
	t_start=$(now)
	"$work/ingestd" run -config "$work/ingestd.yaml" 2>"$work/daemon.log" &
	pid=$!
	sampler "$pid" "$work/peaks" &
}

# wait_files N: until the status counts N files (or the daemon died).
wait_files() {
	local n=$1
	while :; do
		kill -0 "$pid" 2>/dev/null || { echo "daemon died:"; tail -20 "$work/daemon.log"; exit 1; }
		[ "$(files_in "$addr")" -ge "$n" ] && return
		sleep 0.2
	done
}

# wait_scan PREV: until the volume has a reconcile walk done other than
# PREV (its last_scan; "" for the first since the start); prints "WALK_S
# HASHED LAST_SCAN" (the walk's own seconds, from the status's
# last_scan_seconds, files hashed by the process so far: 0 when it found
# the tree unchanged, and its last_scan).
wait_scan() {
	python3 - "$addr" "$1" "$pid" <<'EOF2'
import json, os, sys, time, urllib.request
addr, prev, pid = sys.argv[1:]
while True:
    if not os.path.exists(f"/proc/{pid}"):
        sys.exit("daemon died while rescanning")
    try:
        st = json.load(urllib.request.urlopen(f"http://{addr}/v1/status"))
        v = [v for v in st["volumes"] if v["name"] == "bench"][0]
        if not v["last_scan"].startswith("0001-") and v["last_scan"] != prev and not v.get("scanning"):
            print(v["last_scan_seconds"], st["ingest"]["files_hashed"], v["last_scan"])
            break
    except Exception:
        pass
    time.sleep(0.05)
EOF2
}

stop_daemon() {
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	wait 2>/dev/null || true
}

# page PATH KEY: pages PATH with a cursor, 1000 a page, printing
# "pages first_ms last_ms".
page() {
	python3 - "$addr" "$1" "$2" <<'EOF'
import json, sys, time, urllib.request
addr, path, kind = sys.argv[1:]
after, pages, first, last = "", 0, None, None
while True:
    url = f"http://{addr}{path}?limit=1000" + (f"&after={after}" if after != "" else "")
    t0 = time.perf_counter()
    d = json.load(urllib.request.urlopen(url))
    dt = (time.perf_counter() - t0) * 1000
    items = d.get("assets") if kind == "assets" else d.get("events")
    if not items:
        break
    pages += 1
    if first is None:
        first = dt
    last = dt
    after = items[-1]["id"] if kind == "assets" else str(items[-1]["seq"])
print(pages, f"{first:.1f}", f"{last:.1f}")
EOF
}

run_size() {
	local n=$1
	local tree="$work/tree$n" state="$work/state$n" t_b3="" c_b3="" t t_end cpu secs hwm pa pf ps np pfirst plast t_run
	t_run=$(now)
	"$work/ingestbench" mktree "$tree" "$n"
	echo "-- real daemon, first durable ingest of $n small files in $base ($(stat -f -c %T "$work")), vs b3sum over the same tree"
	b3tree() { find "$tree" -type f -print0 | xargs -0 b3sum --num-threads 1 >/dev/null; }
	for _ in $(seq "$TRIALS"); do
		t=$( { TIMEFORMAT='%R %U %S'; time b3tree; } 2>&1 | tail -1)
		keep t_b3 "$(echo "$t" | awk '{print $1}')"
		keep c_b3 "$(echo "$t" | awk '{print $2 + $3}')"
	done
	start_daemon "$state" "$tree"
	wait_files "$n"
	t_end=$(now)
	cpu=$(cpu_s "$pid")
	secs=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { print b - a }')
	hwm=$(field VmHWM "$pid"); read -r pa pf ps <"$work/peaks"
	printf '  ingestd first ingest (durable): %d files in %.2fs (%.0f files/s, CPU %.2fs)\n' "$n" "$secs" \
		"$(awk -v n="$n" -v s="$secs" 'BEGIN { print n / s }')" "$cpu"
	printf '  %-40s %8.2fs (CPU %.2fs)\n' "b3sum --num-threads 1 over the tree (best)" "$t_b3" "$c_b3"
	echo "  ratio first ingest / b3sum, wall:     $(ratio "$secs" "$t_b3")x (goal <= 5)"
	echo "  ratio first ingest / b3sum, CPU:      $(ratio "$cpu" "$c_b3")x"
	printf '  RSS during the ingest: peak (VmHWM) %s MB; peaks apart: anon %s MB, file-backed %s MB, shmem (mapped tmpfs files) %s MB\n' \
		"$(mb "$hwm")" "$(mb "$pa")" "$(mb "$pf")" "$(mb "$ps")"
	sleep "$STEADY_S"
	rss_now
	printf '  RSS steady (%ss idle after): %s; peak so far %s MB\n' "$STEADY_S" "$rss_line" "$(mb "$(field VmHWM "$pid")")"
	read -r np pfirst plast < <(page /v1/assets assets)
	echo "  paging /v1/assets: $np pages of 1000: first page ${pfirst} ms, last page ${plast} ms"
	read -r np pfirst plast < <(page /v1/feed feed)
	echo "  paging /v1/feed:   $np pages of 1000: first page ${pfirst} ms, last page ${plast} ms"
	rss_now
	printf '  RSS after paging: %s; peak so far %s MB\n' "$rss_line" "$(mb "$(field VmHWM "$pid")")"
	stop_daemon
	# find over the same (warm) tree, as the restart's walk finds it.
	local t_find=""
	for _ in $(seq "$TRIALS"); do
		t=$( { TIMEFORMAT='%R'; time find "$tree" -printf '%s %T@\n' >/dev/null; } 2>&1 | tail -1)
		keep t_find "$t"
	done
	start_daemon "$state" "$tree"
	wait_files "$n"
	local walk hashed last walk2 hashed2=0
	read -r walk hashed last < <(wait_scan "")
	t_end=$(now)
	hwm=$(field VmHWM "$pid"); read -r pa pf ps <"$work/peaks"
	printf '  restart + rescan of the unchanged tree: %d files, rescan done %.2fs after the start; RSS peak %s MB (anon %s, file-backed %s, shmem %s)\n' "$n" \
		"$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { print b - a }')" "$(mb "$hwm")" "$(mb "$pa")" "$(mb "$pf")" "$(mb "$ps")"
	# A rescan of the running daemon (POST .../rescan, as the rescan
	# interval starts one), once the restart's own work is done.
	# Best of TRIALS, each next to a find run just before it (the daemon's
	# own background work, such as its probes of new files, runs beside
	# both), the find before the restart counted too.
	sleep 5
	local w2 best2=""
	for _ in $(seq "$TRIALS"); do
		t=$( { TIMEFORMAT='%R'; time find "$tree" -printf '%s %T@\n' >/dev/null; } 2>&1 | tail -1)
		keep t_find "$t"
		curl -fsS -X POST -H "Content-Type: application/json" "http://$addr/v1/volumes/bench/rescan" >/dev/null
		read -r w2 hashed2 last < <(wait_scan "$last")
		keep best2 "$w2"
	done
	walk2=$best2
	printf '  rescan walks (status last_scan_seconds): at the restart %.2fs, of the running daemon (best) %.2fs; files hashed again %d; find -printf over the tree (best) %.2fs\n' \
		"$walk" "$walk2" "$hashed2" "$t_find"
	echo "  ratio rescan walk / find:             at the restart $(ratio "$walk" "$t_find")x, running $(ratio "$walk2" "$t_find")x (goal <= 1)"
	stop_daemon
	if [ "${KEEP:-}" != 1 ]; then rm -rf "$tree" "$state"; fi
	printf '  this size took %.0fs in all (tree, b3sum, ingest, paging, restart); load now: %s\n' \
		"$(awk -v a="$t_run" -v b="$(now)" 'BEGIN { print b - a }')" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "daemon ingest bench on $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
run_size "$TREE_FILES"
if [ "${INGEST_1M:-}" = 1 ]; then
	run_size 1000000
fi
