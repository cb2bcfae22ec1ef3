#!/bin/sh
# bench/run.sh BUILD_DIR [RESULTS]: times logins through pam_permit,
# pam_google_authenticator, pam_oath and pam_totp (BUILD_DIR/pam_totp.so),
# in one long-lived process (in-process model) and, when
# BUILD_DIR/bench_fresh is built, each in a new process forked by a parent
# linked like sshd (fresh-process model), and writes the tables to RESULTS
# (default bench/RESULTS.md). Run as root
# from the top of the tree (`make bench` does). Everything it makes lives in
# one temporary directory, removed at the end, and in a private mount
# namespace that dies with the run: the host's /etc is never changed.
#
# Environment: BENCH_USERS (default 100,2000,10000), BENCH_SAMPLE (valid-
# and wrong-code logins per stack and size, default 1000), BENCH_RECOVERY
# (default 50), BENCH_PARALLEL (logins per process, default 500),
# BENCH_TOTAL (bench users in /etc/passwd, default 10000; each size divides it),
# BENCH_TMPDIR (where the files go, default /var/tmp: it must be a disk,
# not a tmpfs, or fsync costs nothing); BENCH_ONLY=STACK (valid codes
# through that stack only; BENCH_ONLY_MODEL=fresh: in the fresh-process
# model) and BENCH_WRAP (a command put before the harness, e.g.
# "strace -f -c -o FILE") for profiling.
#
# The fleet rows (bench/README.md, "Fleet"), when BUILD_DIR has
# pam_totp_pgsql.so and totp-admin and PostgreSQL's server is installed:
# a throwaway cluster started inside the run (bench/fleet_store.py) and
# stopped at its end, also on failure. BENCH_FLEET=0 leaves them out;
# BENCH_FLEET_USERS (sizes, default 2000), BENCH_FLEET_SAMPLE (users per
# fleet lane, default 200), BENCH_FLEET_CAPACITY (logins per capacity run,
# default 400), BENCH_FLEET_PROFILE (logins per transport under
# BUILD_DIR/bench_pq_clock.so, default 150).
set -eu

if [ $# -lt 1 ]; then
    echo "usage: bench/run.sh BUILD_DIR [RESULTS]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
results=${2:-bench/RESULTS.md}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root (it needs a private mount namespace)" >&2
    exit 1
fi
pamdir=$(pkg-config --variable=libdir pam 2>/dev/null || true)
pamdir=${pamdir:-/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)}/security
for m in pam_google_authenticator.so pam_oath.so; do
    if [ ! -e "$pamdir/$m" ]; then
        echo "bench: $pamdir/$m missing: apt-get install libpam-google-authenticator libpam-oath" >&2
        exit 1
    fi
done
for f in "$build/bench_logins" "$build/pam_totp.so" "$build/totp-enroll"; do
    if [ ! -x "$f" ] && [ ! -f "$f" ]; then
        echo "bench: $f missing: make bench builds it" >&2
        exit 1
    fi
done

fresh=""
if [ -x "$build/bench_fresh" ]; then
    fresh=$build/bench_fresh
else
    echo "bench: $build/bench_fresh missing: the fresh-process model is skipped (make bench builds it)" >&2
fi
load_probe=""
if [ -x "$build/bench_load_once" ]; then
    load_probe=$build/bench_load_once
fi
fleet=""
pq_clock=""
sshd_libs=""
if [ "${BENCH_FLEET:-1}" != 0 ] && [ -n "$fresh" ]; then
    if [ -f "$build/pam_totp_pgsql.so" ] && [ -x "$build/totp-admin" ] &&
       ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        fleet=$build
        if [ -f "$build/bench_pq_clock.so" ]; then
            pq_clock=$build/bench_pq_clock.so
        fi
    else
        echo "bench: the fleet rows are skipped (make bench builds pam_totp_pgsql.so and totp-admin; PostgreSQL's server: scripts/install-deps)" >&2
    fi
fi

total=${BENCH_TOTAL:-10000}
work=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/pam_totp-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# Searchable by the bench users (not listable): totp-enroll reads the
# google-authenticator file it imports with the user's identity.
chmod 711 "$work"
mkdir "$work/etc"
if [ -n "$fleet" ] && [ -x /usr/sbin/sshd ]; then
    # What sshd links of the libraries libpq needs: a real sshd process
    # has them loaded before a fleet login loads the backend.
    libs_of() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// && $3 !~ /\/libc\.so/ { print $3 }' | sort -u; }
    libs_of /usr/sbin/sshd >"$work/sshd.libs"
    libs_of "$build/pam_totp_pgsql.so" >"$work/backend.libs"
    sshd_libs=$(grep -Fx -f "$work/sshd.libs" "$work/backend.libs" | tr '\n' ' ' | sed 's/ $//' || true)
fi
# The host's users plus bt00000..bt09999 (uids from 3000000, no home, no
# shell), for getpwnam in the modules; only the namespace sees this file.
cp /etc/passwd "$work/etc/passwd"
cp /etc/group "$work/etc/group"
awk -v n="$total" 'BEGIN { for (i = 0; i < n; i++)
    printf "bt%05d:x:%d:3000000::/nonexistent:/usr/sbin/nologin\n", i, 3000000 + i }' >>"$work/etc/passwd"
echo "benchtotp:x:3000000:" >>"$work/etc/group"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
started_s=$(date +%s)
# shellcheck disable=SC2086 # BENCH_WRAP is a command line, split on purpose
BENCH_HOST_MNTNS=$(readlink /proc/self/ns/mnt) \
unshare --mount --propagation private /usr/bin/python3 "$here/ns_bench.py" "$work" ${fleet:+--fleet "$fleet"} -- \
    ${BENCH_WRAP:-} "$build/bench_logins" ${BENCH_ONLY:+--only "$BENCH_ONLY"} --module "$build/pam_totp.so" --enroll "$build/totp-enroll" \
    --work "$work" --out "$work/table.md" --total "$total" \
    --users "${BENCH_USERS:-100,2000,10000}" --sample "${BENCH_SAMPLE:-1000}" \
    --recovery "${BENCH_RECOVERY:-50}" --parallel "${BENCH_PARALLEL:-500}" \
    --pamdir "$pamdir" ${BENCH_LOAD_RUNS:+--load-runs "$BENCH_LOAD_RUNS"} \
    ${BENCH_ONLY_MODEL:+--only-model "$BENCH_ONLY_MODEL"} \
    ${fresh:+--fresh "$fresh"} ${load_probe:+--load-probe "$load_probe"} \
    ${fleet:+--fleet-users "${BENCH_FLEET_USERS:-2000}" --fleet-sample "${BENCH_FLEET_SAMPLE:-200}"} \
    ${fleet:+--fleet-capacity "${BENCH_FLEET_CAPACITY:-400}" --fleet-profile "${BENCH_FLEET_PROFILE:-150}"} \
    ${pq_clock:+--pq-clock "$pq_clock"} ${sshd_libs:+--sshd-libs "$sshd_libs"} >/dev/null || status=$?
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "# Login benchmark: pam_totp against google-authenticator-libpam and pam_oath"
    echo
    echo "Written by \`make bench\` (bench/run.sh, bench/bench_logins.cpp, bench/fresh.c); see bench/README.md."
    echo
    echo "- date: $started"
    echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r)"
    dev=$(df --output=source "$work" | tail -n1)
    fstype=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work")
    journal=""
    if [ "$fstype" = ext4 ]; then
        # jbd2 lists each journal it runs as DEVICE-INODE: none for this device, no journal.
        journal=", no journal"
        for j in /proc/fs/jbd2/"$(basename "$dev")"-*; do
            if [ -e "$j" ]; then journal=", with a journal"; fi
        done
    fi
    echo "- file system of the secret and state files: $fstype$journal ($dev, $(cat "/sys/block/$(basename "$dev")/queue/write_cache" 2>/dev/null || echo '?') cache)"
    echo "- load average (1, 5, 15 min) before: $load_before; after: $load_after"
    echo "- run took: $(( $(date +%s) - started_s )) s"
    echo "- modules: pam_permit, pam_google_authenticator $(dpkg-query -W -f '${Version}' libpam-google-authenticator 2>/dev/null || echo '?'),"\
         "pam_oath $(dpkg-query -W -f '${Version}' libpam-oath 2>/dev/null || echo '?'), pam_totp from $build"
    if command -v readelf >/dev/null; then
        echo "- pam_totp.so needs: $(readelf -d "$build/pam_totp.so" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"\
             "(flags: $(readelf -d "$build/pam_totp.so" | sed -n 's/.*(FLAGS_1)[[:space:]]*Flags: //p'))"
    fi
    echo
    if [ -f "$work/table.md" ]; then cat "$work/table.md"; fi
} >"$results"
cat "$results"
exit "${status:-0}"
