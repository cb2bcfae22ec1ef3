#!/bin/sh
# make install into a scratch DESTDIR: the module lands in the PAM directory
# (not under PREFIX), the man pages under PREFIX, and nothing else is written.
set -eu
make_cmd=${MAKE:-make}
build=${1:?usage: check-install.sh BUILD_DIR}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT INT TERM

$make_cmd -s BUILD="$build" install DESTDIR="$dest" PREFIX=/opt/pt PAMDIR=/lib/test-multiarch/security >/dev/null

fail=0
check() {
    if [ -f "$dest$1" ]; then echo "ok - $1"; else echo "not ok - $1 missing"; fail=1; fi
}
check /lib/test-multiarch/security/pam_totp.so
check /opt/pt/share/man/man8/pam_totp.8
check /opt/pt/bin/totp-enroll
check /opt/pt/share/man/man1/totp-enroll.1
check /opt/pt/share/man/man5/pam_totp-secret.5
mode=$(stat -c %a "$dest/lib/test-multiarch/security/pam_totp.so")
if [ "$mode" = 644 ]; then echo "ok - module mode 644"; else echo "not ok - module mode $mode"; fail=1; fi
stray=$(find "$dest" -type f ! -path "$dest/lib/test-multiarch/security/*" ! -path "$dest/opt/pt/*")
if [ -z "$stray" ]; then echo "ok - nothing outside PAMDIR and PREFIX"; else echo "not ok - stray: $stray"; fail=1; fi

# The default PAMDIR is the multiarch PAM directory libpam searches.
default=$($make_cmd -s --no-print-directory print-PAMDIR)
case "$default" in
    */security) echo "ok - default PAMDIR $default" ;;
    *) echo "not ok - default PAMDIR $default"; fail=1 ;;
esac
exit $fail
