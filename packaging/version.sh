#!/bin/sh
# Prints the package version derived from git, valid for both dpkg and rpm
# (no '-', which rpm forbids in a version and dpkg reads as a revision):
#   tag v1.2.3 on HEAD          -> 1.2.3
#   4 commits after v1.2.3      -> 1.2.3+git20261123084900.4.gb213bc7  (sorts after 1.2.3)
#   no tag at all               -> 0.0.0~git20261123084900.b213bc7     (sorts before 0.0.0)
# A dirty work tree appends ".dirty". The timestamp is the commit's (UTC),
# so later commits sort higher even without tags.
set -eu
cd "$(dirname "$0")/.."
desc=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
stamp=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || echo 0)
dirty=""
case "$desc" in *-dirty) dirty=".dirty"; desc=${desc%-dirty} ;; esac
case "$desc" in
v[0-9]*-[0-9]*-g[0-9a-f]*|[0-9]*-[0-9]*-g[0-9a-f]*)
	# <tag>-<n>-g<sha>: strip from the right, the tag itself may contain '-'.
	sha=${desc##*-}; rest=${desc%-*}; n=${rest##*-}; tag=${rest%-*}
	tag=${tag#v}
	echo "$(echo "$tag" | tr '-' '~')+git$stamp.$n.$sha$dirty" ;;
v[0-9]*|[0-9]*.*)
	# A tag such as v1.2.3 or v1.2.3-rc1 (a pre-release sorts before 1.2.3).
	tag=${desc#v}
	echo "$(echo "$tag" | tr '-' '~')$dirty" ;;
*)
	echo "0.0.0~git$stamp.$desc$dirty" ;;
esac
