#!/bin/sh
# make dist: versioned release archives for every system a client runs on,
# and a SHA-256 checksum file. Static (CGO off), -trimpath, and reproducible:
# the build date is the commit's date, archive entries carry that time and no
# owner, so two runs on one commit give the same bytes.
#
#   dist/conndiag_VERSION_OS_ARCH.tar.gz   (zip for windows)
#   dist/conndiag_VERSION_SHA256SUMS       (sha256sum -c checks it)
set -eu

GO=${GO:-go}
VERSION=${VERSION:?VERSION is not set (make dist sets it)}
COMMIT=${COMMIT:-unknown}
DATE=${DATE:-unknown}
EPOCH=${EPOCH:-0}
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 freebsd/amd64 freebsd/arm64"}
OUT=${OUT:-dist}

pkg=github.com/conndiag/conndiag/internal/cli
ldflags="-s -w -buildid= -X $pkg.Version=$VERSION -X $pkg.Commit=$COMMIT -X $pkg.Date=$DATE"

rm -rf "$OUT"
mkdir -p "$OUT"
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	name=conndiag_${VERSION}_${os}_${arch}
	dir=$OUT/$name
	mkdir -p "$dir"
	exe=conndiag
	[ "$os" = windows ] && exe=conndiag.exe
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$dir/$exe" ./cmd/conndiag
	cp README.md "$dir/"
	find "$dir" -exec touch -h -d "@$EPOCH" {} +
	if [ "$os" = windows ]; then
		(cd "$OUT" && TZ=UTC zip -q -X -r "$name.zip" "$name")
	else
		tar -C "$OUT" --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner -cf - "$name" | gzip -n -9 >"$OUT/$name.tar.gz"
	fi
	rm -rf "$dir"
	echo "$OUT/$name: $(wc -c <"$(ls "$OUT/$name".*)" | tr -d ' ') bytes"
done
(cd "$OUT" && ls conndiag_"${VERSION}"_*.tar.gz conndiag_"${VERSION}"_*.zip 2>/dev/null | xargs sha256sum >"conndiag_${VERSION}_SHA256SUMS")
(cd "$OUT" && sha256sum -c --quiet "conndiag_${VERSION}_SHA256SUMS")
echo "$OUT/conndiag_${VERSION}_SHA256SUMS"
