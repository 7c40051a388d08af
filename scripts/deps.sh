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
	make:make
	gcc:gcc
	update-ca-certificates:ca-certificates
	xmllint:libxml2-utils
	# systemd-analyze verify of the unit (TestSecurity14UnitLimits); a
	# fresh Debian container has no systemd package
	systemd-analyze:systemd
	# GNU time for max RSS (analysis/bench_memory_test.go); a path, since
	# `command -v time` finds the shell keyword
	/usr/bin/time:time
	blkid:util-linux
	# the web console's browser tests (cmd/ingestd/console_e2e_test.go)
	chromium:chromium
	# camera cards as real FAT/exFAT images (the kernel may lack vfat/exfat:
	# the tests mount them with the FUSE drivers)
	mkfs.vfat:dosfstools
	mkfs.exfat:exfatprogs
	mount.exfat-fuse:exfat-fuse
	fusefat:fusefat
	# edge analysis: the speech-to-text enricher (cmd/ingestd-enrich-stt)
	# and the speech its test synthesises
	pocketsphinx_continuous:pocketsphinx
	espeak-ng:espeak-ng
)

# Go build tools (staticcheck, goimports, nfpm) are pinned in tools/go.mod,
# their own module: the Makefile and packaging/build.sh run them with
# `go -C tools tool -n NAME`. Installed into GOPATH/bin too, for running by
# hand: import paths resolved at tools/go.mod's versions.
GO_TOOLS=(
	honnef.co/go/tools/cmd/staticcheck
	golang.org/x/tools/cmd/goimports
)

missing=()
for entry in "${PKGS[@]}"; do
	cmd=${entry%%:*} pkg=${entry#*:}
	command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
# PocketSphinx's US English model (no command of its own).
[ -d /usr/share/pocketsphinx/model/en-us ] || missing+=(pocketsphinx-en-us)
# The ASC's reference ascmhl tool (../shared/tools/ascmhl/run) runs on
# Debian's python3 packages.
if ! /usr/bin/python3 -c 'import click, lxml, packaging, pathspec, requests, xxhash, dateutil' >/dev/null 2>&1; then
	missing+=(python3 python3-click python3-lxml python3-packaging python3-pathspec python3-requests python3-xxhash python3-dateutil)
fi

if [ ${#missing[@]} -gt 0 ] && [ "${CI:-}" != "true" ] && [ "$(id -u)" != 0 ]; then
	# Outside CI, tests skip what they cannot run.
	echo "deps: missing ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run with CI=true" >&2
elif [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "deps: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

# Go itself (go.mod's version) when missing or older, into /usr/local/go.
GO_VERSION=1.26.8
have=$(go env GOVERSION 2>/dev/null || /usr/local/go/bin/go env GOVERSION 2>/dev/null || echo none)
if [ "$have" = none ] || [ "$(printf '%s\n' "go$GO_VERSION" "$have" | sort -V | head -1)" != "go$GO_VERSION" ]; then
	if [ "${CI:-}" = "true" ] || [ "$(id -u)" = 0 ]; then
		echo "deps: installing go$GO_VERSION (found $have)"
		arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
		tmp=$(mktemp -d)
		curl -fsSL "https://go.dev/dl/go$GO_VERSION.linux-$arch.tar.gz" -o "$tmp/go.tgz"
		rm -rf /usr/local/go && tar -C /usr/local -xzf "$tmp/go.tgz" && rm -rf "$tmp"
	else
		echo "deps: go$GO_VERSION or newer needed (found $have)" >&2
	fi
fi
export PATH="/usr/local/go/bin:$PATH"

tools_dir=$(cd "$(dirname "$0")/../tools" && pwd)
if command -v go >/dev/null 2>&1; then
	gobin=$(go env GOPATH)/bin
	for t in "${GO_TOOLS[@]}"; do
		name=$(basename "$t")
		want=$(go -C "$tools_dir" list -m -f '{{.Version}}' "$(go -C "$tools_dir" list -f '{{.Module.Path}}' "$t")")
		# The installed binary is used only when it is tools/go.mod's version.
		if [ -x "$gobin/$name" ] && go version -m "$gobin/$name" 2>/dev/null | grep -q "[[:space:]]$want[[:space:]]"; then
			continue
		fi
		echo "deps: installing $t $want (tools/go.mod)"
		GOBIN=$gobin go -C "$tools_dir" install "$t" || echo "deps: could not install $t" >&2
	done
	# nfpm (make deb/rpm) is built on first use; on CI build it now, so that
	# a module download failure shows here.
	if [ "${CI:-}" = "true" ]; then
		go -C "$tools_dir" tool -n nfpm >/dev/null || echo "deps: could not build nfpm (tools/go.mod)" >&2
	fi
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
