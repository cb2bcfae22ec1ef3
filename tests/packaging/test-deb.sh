#!/bin/sh
# tests/packaging/test-deb.sh BUILD_DIR: the Debian package end to end.
#
# Builds dist/libpam-totp_*.deb (packaging/debian/build-deb.sh), installs it,
# enrolls with the installed totp-enroll, logs in through the installed
# pam_totp.so (named only "pam_totp.so" in a private PAM service directory,
# so libpam loads it from its own module directory), enables and disables
# the pam-auth-update profile, purges the package, and checks that nothing
# is left behind and /etc/pam.d/common-* are byte-identical to before.
#
# It changes the machine while it runs, so it needs root and skips when any
# pam_totp file is already installed. On any failure or interruption the
# trap purges the package and restores /etc/pam.d/common-* and
# /var/lib/pam/* (pam-auth-update's record) from copies taken first.
# shellcheck disable=SC2317  # functions called from traps and through check()
set -u

build=${1:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
case $build in
    /*) ;;
    *) build=$top/$build ;;
esac

skip() {
    echo "skip - tests/packaging/test-deb.sh: $*"
    exit 0
}

if [ "$(id -u)" -ne 0 ]; then
    skip "needs root (installs and purges a package)"
fi
for tool in dpkg-buildpackage dh dpkg-deb pam-auth-update oathtool; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        skip "$tool is not installed (scripts/install-deps)"
    fi
done
status=$(dpkg-query -W -f='${db:Status-Status}' libpam-totp 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != not-installed ]; then
    skip "libpam-totp is on this machine ($status); not disturbing it"
fi
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
module=/lib/$multiarch/security/pam_totp.so
for f in "$module" /usr/bin/totp-enroll /usr/share/pam-configs/pam_totp /var/lib/pam_totp; do
    if [ -e "$f" ] || [ -L "$f" ]; then
        skip "$f exists (a pam_totp installed without the package?); not disturbing it"
    fi
done
time_shim=${TIME_SHIM:-$build/timeshim.so}
for f in "$build/pam_login" "$time_shim"; do
    if [ ! -f "$f" ]; then
        echo "not ok - $f is missing (make $build/pam_login $build/timeshim.so)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

export DEBIAN_FRONTEND=noninteractive
passed=0
failed=0
ok() {
    echo "ok - $*"
    passed=$((passed + 1))
}
not_ok() {
    echo "not ok - $*"
    failed=$((failed + 1))
}
check() {  # check DESCRIPTION COMMAND...: ok when the command succeeds
    desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
fails() {  # fails COMMAND...: the command fails (for check)
    ! "$@"
}
absent() {  # absent PATH: neither a file nor a dangling link
    [ ! -e "$1" ] && [ ! -L "$1" ]
}

tmp=$(mktemp -d /tmp/pam_totp-pkgtest.XXXXXX)
mkdir "$tmp/saved-pam.d" "$tmp/saved-var-lib-pam"
cp -p /etc/pam.d/common-* "$tmp/saved-pam.d/"
cp -p /var/lib/pam/* "$tmp/saved-var-lib-pam/" 2>/dev/null || true
installed=0

# restore SAVED_DIR LIVE_DIR: put back every saved file that differs.
restore() {
    for saved in "$1"/*; do
        [ -e "$saved" ] || continue
        live=$2/$(basename "$saved")
        if ! cmp -s "$saved" "$live"; then
            cp -p "$saved" "$live"
            echo "# restored $live"
        fi
    done
}

cleanup() {
    if [ "$installed" -eq 1 ]; then
        echo "# purging libpam-totp after a failure"
        dpkg --purge libpam-totp >/dev/null 2>&1 || echo "# dpkg --purge libpam-totp failed; purge it by hand"
    fi
    # It did not exist before (checked above): whatever the purge left of
    # the state directory goes too (a failed check says so already).
    if [ -e /var/lib/pam_totp ] || [ -L /var/lib/pam_totp ]; then
        echo "# removing /var/lib/pam_totp, which this test's logins created"
        rm -rf /var/lib/pam_totp
    fi
    restore "$tmp/saved-pam.d" /etc/pam.d
    restore "$tmp/saved-var-lib-pam" /var/lib/pam
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "not ok - interrupted"; exit 130' INT TERM HUP

# same_pam_files: /etc/pam.d/common-* are byte-identical to the saved copies
# (and no common-* file appeared).
same_pam_files() {
    for saved in "$tmp/saved-pam.d"/*; do
        cmp -s "$saved" "/etc/pam.d/$(basename "$saved")" || return 1
    done
    for live in /etc/pam.d/common-*; do
        [ -e "$tmp/saved-pam.d/$(basename "$live")" ] || return 1
    done
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# --- build -------------------------------------------------------------------
version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
deb=$top/dist/libpam-totp_${version}_$(dpkg --print-architecture).deb
rm -f "$deb"
if sh "$top/packaging/debian/build-deb.sh" "$build" >"$tmp/build.log" 2>&1 && [ -f "$deb" ]; then
    ok "make deb built dist/$(basename "$deb")"
else
    sed 's/^/# /' "$tmp/build.log" | tail -40
    not_ok "make deb built dist/$(basename "$deb")"
    finish
fi

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
for f in "$module" /usr/bin/totp-enroll /usr/sbin/totp-admin /usr/sbin/pam_totp_check \
    /usr/share/man/man8/pam_totp.8.gz /usr/share/man/man8/totp-admin.8.gz /usr/share/man/man8/pam_totp_check.8.gz /usr/share/man/man1/totp-enroll.1.gz \
    /usr/share/man/man5/pam_totp-secret.5.gz \
    /usr/share/doc/libpam-totp/copyright /usr/share/doc/libpam-totp/changelog.Debian.gz \
    /usr/share/doc/libpam-totp/examples/fail2ban/pam_totp.conf \
    /usr/share/pam-configs/pam_totp; do
    check "package contains $f" grep -qx "$f" "$tmp/contents"
done
if command -v lintian >/dev/null 2>&1; then
    # Overrides, each with its reason: packaging/debian/libpam-totp.lintian-overrides.
    # TMPDIR: lintian leaves mldbm-elf-* files behind in its temporary directory.
    if TMPDIR="$tmp" lintian --fail-on error,warning "$deb" >"$tmp/lintian.log" 2>&1; then
        ok "lintian: no errors or warnings"
    else
        sed 's/^/# /' "$tmp/lintian.log"
        not_ok "lintian: no errors or warnings"
    fi
else
    echo "# lintian is not installed: not run"
fi
check "package ships no secret or state file" sh -c "! grep -q '^/var/lib/pam_totp/.' '$tmp/contents'"

# --- install -----------------------------------------------------------------
installed=1
if dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1; then
    ok "dpkg -i $(basename "$deb")"
else
    sed 's/^/# /' "$tmp/dpkg-i.log"
    not_ok "dpkg -i $(basename "$deb")"
    finish
fi
check "/var/lib/pam_totp created, root:root 0700" \
    test "$(stat -c '%U:%G %a %F' /var/lib/pam_totp 2>/dev/null)" = "root:root 700 directory"
# Of the package's regular files, only the helper has a setuid or setgid bit.
special_files() {
    dpkg -L libpam-totp | while IFS= read -r f; do
        [ -f "$f" ] && [ ! -L "$f" ] && stat -c '%a %n' "$f"
    done | grep -c '^[2-7][0-7][0-7][0-7] '
}
check "/usr/sbin/pam_totp_check installed setuid root (root:root 4755), the one setuid file" \
    test "$(stat -c '%U:%G %a' /usr/sbin/pam_totp_check 2>/dev/null) $(special_files)" = "root:root 4755 1"
check "installing left /etc/pam.d/common-* unchanged (Default: no)" same_pam_files

# --- enroll and log in through the installed module --------------------------
# totp-enroll prints the otpauth URI, then reads the confirmation code from
# standard input: the left side of the pipe waits for the URI line and
# answers with oathtool, as a user would with the app.
mkdir -m 0700 "$tmp/conf"
out=$tmp/enroll.out
# shellcheck disable=SC2094  # reading the output file while it is written is the point
(
    i=0
    while ! grep -q '^URI:' "$out" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 200 ] || exit 1
        sleep 0.05
    done
    b32=$(sed -n 's/^URI:.*[?&]secret=\([^&]*\).*/\1/p' "$out")
    oathtool --totp -b "$b32"
) | /usr/bin/totp-enroll --secret-file "$tmp/secret" --issuer pkgtest --label root \
    --recovery-codes 1 >"$out" 2>&1
enroll_rc=$?
b32=$(sed -n 's/^URI:.*[?&]secret=\([^&]*\).*/\1/p' "$out")
if [ "$enroll_rc" -eq 0 ] && [ -n "$b32" ] && [ -f "$tmp/secret" ]; then
    ok "installed totp-enroll wrote $tmp/secret"
else
    grep -v 'secret=\|^[A-Z2-7 ]*$' "$out" | sed 's/^/# /'
    not_ok "installed totp-enroll wrote $tmp/secret (exit $enroll_rc)"
    finish
fi

printf 'auth required pam_totp.so secret=%s state_dir=%s\n' "$tmp/secret" "$tmp/state" >"$tmp/conf/pkgtest"
printf 'auth required pam_totp.so secret=%s\n' "$tmp/secret" >"$tmp/conf/pkgtest-default-state"
# login LOG SERVICE CODE: one login through pam_login, on a simulated clock
# 90 s ahead (tests/tools/timeshim.c): the code of a step after the
# enrollment's, whose code the secret file records as seen (confirmed).
# pam_login is not setuid, so the shim loads; nothing waits for time.
later=90
echo "$later" >"$tmp/clock"
login() {
    printf '%s\n' "$3" | LD_PRELOAD=$time_shim TIME_SHIM_FILE=$tmp/clock \
        "$build/pam_login" "$tmp/conf" "$2" root >"$tmp/$1" 2>&1
}
confirmed=$(sed -n 's/^confirmed //p' "$tmp/secret")
enroll_code=$(oathtool --totp -b "$b32" -N "@$((confirmed - 30))")
code_time=$(($(date +%s) + later))
code=$(oathtool --totp -b "$b32" -N "@$code_time")
check "the enrollment's confirmation code is refused" fails login login0.out pkgtest "$enroll_code"
check "login with a later code through the installed pam_totp.so" login login1.out pkgtest "$code"
check "the same code again is refused (replay)" fails login login2.out pkgtest "$code"
check "login with the default state_dir /var/lib/pam_totp" login login3.out pkgtest-default-state "$code"
# The state (pam_totp(8), FILES): root's u-root in two slots, and the claim
# of the secret's token naming it; read with tests/lib/state_files.py.
check "the module keeps its state in /var/lib/pam_totp/u-root, claimed by the token (t-*)" \
    python3 -c "
import sys
sys.path.insert(0, sys.argv[1])
import state_files as s
st = s.account_state('/var/lib/pam_totp', 'root')
claims = s.claims('/var/lib/pam_totp')
assert st is not None and st['account'] == 'root' and st['last_login'], st
assert list(claims.values()) == ['u-root'] and len(st['tokens']) == 1, (claims, st)
tid = next(iter(claims))
assert st['tokens'][tid]['used_until'] > int(sys.argv[2]), st
" "$top/tests/lib" "$code_time"

# --- pam-auth-update ------------------------------------------------------------
if pam-auth-update --package --enable pam_totp >"$tmp/pau.log" 2>&1; then
    ok "pam-auth-update --package --enable pam_totp"
else
    sed 's/^/# /' "$tmp/pau.log"
    not_ok "pam-auth-update --package --enable pam_totp"
fi
# The line goes into the additional block, after the primary block ends at
# pam_deny/pam_permit: reached only after a right password.
check "common-auth: 'auth required pam_totp.so nullok' after pam_permit.so" \
    awk '/^auth[ \t].*pam_permit\.so/ { permit = NR }
         /^auth[ \t]+required[ \t]+pam_totp\.so nullok$/ { totp = NR }
         END { exit !(permit && totp > permit) }' /etc/pam.d/common-auth
check "pam_totp only in common-auth" \
    sh -c "! grep -l pam_totp /etc/pam.d/common-* | grep -vx /etc/pam.d/common-auth"
if pam-auth-update --package --disable pam_totp >"$tmp/pau.log" 2>&1; then
    ok "pam-auth-update --package --disable pam_totp"
else
    sed 's/^/# /' "$tmp/pau.log"
    not_ok "pam-auth-update --package --disable pam_totp"
fi
check "enable then disable left /etc/pam.d/common-* byte-identical" same_pam_files

# --- purge ---------------------------------------------------------------------
if dpkg --purge libpam-totp >"$tmp/purge.log" 2>&1; then
    installed=0
    ok "dpkg --purge libpam-totp"
else
    sed 's/^/# /' "$tmp/purge.log"
    not_ok "dpkg --purge libpam-totp"
fi
for f in /var/lib/pam_totp /usr/share/pam-configs/pam_totp "$module" /usr/bin/totp-enroll \
    /usr/share/man/man8/pam_totp.8.gz /usr/share/doc/libpam-totp; do
    check "purge removed $f" absent "$f"
done
check "dpkg -S pam_totp finds nothing" sh -c "! dpkg -S pam_totp >/dev/null 2>&1"
check "dpkg no longer knows libpam-totp" \
    sh -c "! dpkg-query -W -f='\${db:Status-Status}' libpam-totp 2>/dev/null | grep -qv '^not-installed\$'"
check "purge left /etc/pam.d/common-* byte-identical" same_pam_files
check "purge did not touch the user's secret file" test -f "$tmp/secret"

finish
