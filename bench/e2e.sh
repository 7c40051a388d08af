#!/usr/bin/env bash
# End-to-end latency (integration): the real daemon with a hub.s3 section
# pointing at a local MinIO; a clip is copied into the watch folder and the
# time from its last write to proxy.mp4 being in the bucket is measured,
# minus the FFmpeg job time the daemon logs ("proxy ready" elapsed).
# Goal: latency - FFmpeg <= settle + 1 s.
#   BENCH_CLIPS (default 3) clips of BENCH_CLIP_SECONDS (default 5) s,
#   BENCH_SETTLE_MS (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
rc=0
out=$(INGESTD_BENCH=1 go test ./cmd/ingestd -run '^TestBenchE2ELatency$' -count=1 -v -timeout 20m 2>&1) || rc=$?
grep -v '^=== RUN\|^--- PASS\|^PASS\|^ok ' <<<"$out" || true
exit "$rc"
