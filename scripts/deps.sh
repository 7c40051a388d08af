#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for `make test`. Idempotent:
# each tool is installed only when missing, apt-get update runs at most once.
# Add a line to PKGS (command:package) or GO_TOOLS for your area's needs.
set -euo pipefail

# command:debian-package
PKGS=(
	ffmpeg:ffmpeg
	ffprobe:ffmpeg
	b3sum:b3sum
	xxhsum:xxhash
	rclone:rclone
	bindfs:bindfs
	mkfs.ext4:e2fsprogs
	losetup:mount
	git:git
	curl:curl
	xmllint:libxml2-utils
	blkid:util-linux
)

# Go tools, pinned: import/path@version
GO_TOOLS=(
	honnef.co/go/tools/cmd/staticcheck@2025.1.1
)

missing=()
for entry in "${PKGS[@]}"; do
	cmd=${entry%%:*} pkg=${entry#*:}
	command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "${CI:-}" != "true" ] && [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run with CI=true as root" >&2
		exit 0 # tests skip what they cannot run outside CI
	fi
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "deps: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

if [ "${CI:-}" = "true" ]; then
	gobin=$(go env GOPATH)/bin
	for t in "${GO_TOOLS[@]}"; do
		name=$(basename "${t%@*}")
		[ -x "$gobin/$name" ] || command -v "$name" >/dev/null 2>&1 || go install "$t" || echo "deps: could not install $t" >&2
	done
fi

# --- sync engineer: MinIO for the sync/s3push tests (a real S3 server) ---
# Pinned: minio has no Go-module release tags; this pseudo-version (commit
# 7aac2a2c of 2026-02-12) is what `@latest` resolved to on 2026-11-23 and is
# the build the tests were written against. The tests find the binary via
# $INGESTD_MINIO, this cache path, or PATH.
MINIO_MODULE=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
minio_bin=${INGESTD_MINIO:-$HOME/.cache/ingestd-tools/bin/minio}
if [ ! -x "$minio_bin" ] && ! command -v minio >/dev/null 2>&1; then
	echo "deps: installing $MINIO_MODULE (a few minutes)"
	GOBIN=$HOME/.cache/ingestd-tools/bin go install "$MINIO_MODULE" || echo "deps: could not install $MINIO_MODULE" >&2
fi
# --- end sync engineer ---
