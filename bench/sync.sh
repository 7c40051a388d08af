#!/usr/bin/env bash
# Hub sync benchmark (sync engineer): upload throughput of sync/s3push to a
# local MinIO next to `rclone copy` of the same files, same part size and
# concurrency, run side by side. Goal: ratio >= 1.0.
#   BENCH_FILES (default 4) proxies of BENCH_MIB (default 64) MiB, plus a
#   poster and a filmstrip each.
#
# The end-to-end latency (a clip's last write -> its proxy.mp4 in the bucket,
# minus FFmpeg time; goal <= settle + 1 s) needs the whole daemon and lives in
# bench/e2e.sh (cmd/ingestd TestBenchE2ELatency, daemon engineer).
set -euo pipefail
cd "$(dirname "$0")/.."
INGESTD_BENCH=1 go test ./sync/s3push -run '^TestBenchUploadVsRclone$' -count=1 -v -timeout 20m |
	grep -v '^=== RUN\|^--- \|^PASS\|^ok ' || true
