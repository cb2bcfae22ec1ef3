#!/bin/sh
# make deb: builds dist/libpam-totp_VERSION_ARCH.deb with dpkg-buildpackage.
#
#   packaging/debian/build-deb.sh [BUILD_DIR]
#
# dpkg-buildpackage wants debian/ at the top of the source tree and writes
# its results (.deb, .changes, .buildinfo) next to it, in the parent
# directory. So the tree is copied (the files git knows, tracked or not
# ignored) into a scratch directory under BUILD_DIR, packaging/debian becomes
# debian/ there, and only the .deb files come back, to dist/. The checkout
# is never written to outside dist/ and BUILD_DIR.
#
# DEB_BUILD_OPTIONS is honoured; when unset it is "nocheck" (the unit tests
# run in `make check` already) and parallel=<number of CPUs>.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in
    /*) ;;
    *) build=$top/$build ;;
esac

for tool in dpkg-buildpackage dh; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build-deb: $tool is missing; run scripts/install-deps (it installs dpkg-dev and debhelper)" >&2
        exit 1
    fi
done

# Called from make (`make deb`, `make check SANITIZE=1`), the outer make's
# command-line variables reach this script both in MAKEFLAGS and as
# environment variables, and from here the package's own make. The package
# is built as the packaging says, in its own copy: none of them is inherited.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES \
    BUILD SANITIZE CXXFLAGS CPPFLAGS LDFLAGS WERROR PREFIX DESTDIR PAMDIR BINDIR MANDIR

scratch=$build/deb
rm -rf "$scratch"
mkdir -p "$scratch/src"
trap 'rm -rf "$scratch"' EXIT INT TERM

cd "$top"
sh packaging/copy-tree.sh "$scratch/src"
rm -rf "$scratch/src/debian"
cp -a packaging/debian "$scratch/src/debian"
rm -f "$scratch/src/debian/build-deb.sh"

: "${DEB_BUILD_OPTIONS=nocheck parallel=$(nproc)}"
export DEB_BUILD_OPTIONS

(cd "$scratch/src" && dpkg-buildpackage -us -uc -b)

mkdir -p "$top/dist"
found=0
for deb in "$scratch"/*.deb; do
    [ -e "$deb" ] || continue
    cp "$deb" "$top/dist/"
    echo "build-deb: dist/$(basename "$deb")"
    found=1
done
if [ "$found" -eq 0 ]; then
    echo "build-deb: dpkg-buildpackage produced no .deb in $scratch" >&2
    exit 1
fi
