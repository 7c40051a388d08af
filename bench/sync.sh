#!/usr/bin/env bash
# Hub sync benchmark (sync engineer): upload throughput of sync/s3push to a
# local MinIO next to `rclone copy` of the same files, same part size and
# concurrency, run side by side. Goal: ratio >= 1.0.
#   BENCH_FILES (default 4) proxies of BENCH_MIB (default 64) MiB, plus a
#   poster and a filmstrip each.
#
# TODO(lead): end-to-end latency from a clip's last write to its proxy in the
# bucket, minus the FFmpeg time (goal <= settle + 1 s). It needs the wired
# daemon (watch -> ingest -> transcode -> s3push): start `ingestd` with a
# hub.s3 section pointing at a miniotest server, copy a clip into a watched
# volume, poll HEAD on <prefix>/<id>/proxy.mp4, and subtract the transcode
# time reported in the asset's proxy block / /v1/status.
set -euo pipefail
cd "$(dirname "$0")/.."
INGESTD_BENCH=1 go test ./sync/s3push -run '^TestBenchUploadVsRclone$' -count=1 -v -timeout 20m |
	grep -v '^=== RUN\|^--- \|^PASS\|^ok ' || true
