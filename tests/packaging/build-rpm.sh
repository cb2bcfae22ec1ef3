#!/bin/sh
# make rpm: builds dist/pam_totp-VERSION-RELEASE.ARCH.rpm with rpmbuild.
#
#   tests/packaging/build-rpm.sh [BUILD_DIR]
#
# The source tarball is made from the working tree (the files git knows,
# tracked or untracked but not ignored, so uncommitted changes are in it),
# rpmbuild runs with its _topdir in a scratch directory under BUILD_DIR, and
# only the binary .rpm comes back, to dist/. %check runs `make check-unit`.
# On a system whose rpm database does not list the build dependencies (a
# Debian machine with the rpm package) BuildRequires are not checked.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in
    /*) ;;
    *) build=$top/$build ;;
esac
spec=$top/packaging/rpm/pam_totp.spec

if ! command -v rpmbuild >/dev/null 2>&1; then
    echo "build-rpm: rpmbuild is missing (Debian: apt-get install rpm)" >&2
    exit 1
fi

# Called from make (`make deb`, `make check SANITIZE=1`), the outer make's
# command-line variables reach this script both in MAKEFLAGS and as
# environment variables, and from here the package's own make. The package
# is built as the packaging says, in its own copy: none of them is inherited.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES \
    BUILD SANITIZE CXXFLAGS CPPFLAGS LDFLAGS WERROR PREFIX DESTDIR PAMDIR BINDIR MANDIR

scratch=$build/rpm
rm -rf "$scratch"
trap 'rm -rf "$scratch"' EXIT INT TERM
mkdir -p "$scratch/SOURCES"

name=$(rpmspec -q --srpm --qf '%{name}' "$spec")
version=$(rpmspec -q --srpm --qf '%{version}' "$spec")
stem=$name-$version

cd "$top"
mkdir -p "$scratch/$stem"
sh packaging/copy-tree.sh "$scratch/$stem"
tar -C "$scratch" -czf "$scratch/SOURCES/$stem.tar.gz" "$stem"
rm -rf "${scratch:?}/$stem"

nodeps=
if ! rpm -q glibc >/dev/null 2>&1; then
    nodeps=--nodeps
fi
# shellcheck disable=SC2086  # $nodeps is empty or one word
rpmbuild -bb $nodeps --define "_topdir $scratch" "$spec"

mkdir -p "$top/dist"
found=0
for rpmfile in "$scratch"/RPMS/*/*.rpm; do
    [ -e "$rpmfile" ] || continue
    cp "$rpmfile" "$top/dist/"
    echo "build-rpm: dist/$(basename "$rpmfile")"
    found=1
done
if [ "$found" -eq 0 ]; then
    echo "build-rpm: rpmbuild produced no .rpm in $scratch/RPMS" >&2
    exit 1
fi
