#!/bin/sh
# Builds ingestd's packages with nfpm (pinned in tools/go.mod, the build
# tools' own module: `go -C tools tool nfpm`, kept out of the daemon's go.mod).
#
#   packaging/build.sh bin [VERSION] [OUT]      CGO_ENABLED=0 binaries (default bin/ingestd, and
#                                               OUT-enrich-stt: the speech-to-text enricher)
#   packaging/build.sh deb|rpm [VERSION] [BIN]  dist/ingestd_<v>_amd64.deb, dist/ingestd-<v>.x86_64.rpm
#
# VERSION defaults to packaging/version.sh (from git). DIST (default dist)
# names the output folder. The package contents are in packaging/nfpm.yaml.
# INGESTD_BUILD, when set, is a command run as `$INGESTD_BUILD VERSION OUT`
# instead of `go build` (to exercise the packaging with a stand-in binary).
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
what=${1:?usage: packaging/build.sh bin|deb|rpm [VERSION] [BIN]}
version=${2:-$(packaging/version.sh)}
dist=${DIST:-dist}

case "$what" in
bin)
	out=${3:-bin/ingestd}
	mkdir -p "$(dirname "$out")"
	if [ -n "${INGESTD_BUILD:-}" ]; then
		$INGESTD_BUILD "$version" "$out"
	else
		# Static PIE: no libc dependency, ASLR, and lintian accepts it.
		CGO_ENABLED=0 $GO build -trimpath -buildmode=pie \
			-ldflags "-s -w -X github.com/ingestd/ingestd/daemon.Version=$version" \
			-o "$out" ./cmd/ingestd
	fi
	CGO_ENABLED=0 $GO build -trimpath -buildmode=pie -ldflags "-s -w" -o "$out-enrich-stt" ./cmd/ingestd-enrich-stt
	exit 0
	;;
deb) target="$dist/ingestd_${version}_amd64.deb" ;;
rpm) target="$dist/ingestd-${version}.x86_64.rpm" ;;
*)
	echo "build.sh: unknown target '$what' (bin, deb or rpm)" >&2
	exit 2
	;;
esac

bin=${3:-bin/ingestd}
[ -x "$bin" ] && [ -x "$bin-enrich-stt" ] || { echo "build.sh: $bin or $bin-enrich-stt missing: run packaging/build.sh bin first" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One changelog entry for this build (lintian wants changelog.Debian.gz).
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
cat >"$tmp/changelog.yml" <<YAML
- semver: "$version-1"
  date: $date
  packager: ingestd maintainers <ingestd@example.com>
  deb:
    distributions: [stable]
    urgency: low
  changes:
    - commit: $commit
      note: "Build from commit $(echo "$commit" | cut -c1-12)."
YAML

gzip -9n <packaging/ingestd.1 >"$tmp/ingestd.1.gz"
gzip -9n <packaging/ingestd-enrich-stt.1 >"$tmp/ingestd-enrich-stt.1.gz"

mkdir -p "$dist"
rm -f "$target"
sed "s|\${PKG_CHANGELOG}|$tmp/changelog.yml|" packaging/nfpm.yaml >"$tmp/nfpm.yaml"
# The path of nfpm built from tools/go.mod (go tool -n builds it into the
# build cache); run from here so that the relative paths above hold.
nfpm=$($GO -C tools tool -n nfpm) || { echo "build.sh: cannot build nfpm (tools/go.mod)" >&2; exit 1; }
PKG_VERSION=$version PKG_BIN=$bin PKG_MAN=$tmp/ingestd.1.gz PKG_MAN_STT=$tmp/ingestd-enrich-stt.1.gz \
	"$nfpm" package --config "$tmp/nfpm.yaml" --packager "$what" --target "$target" >&2
echo "$target"
