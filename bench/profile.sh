#!/bin/sh
# bench/profile.sh BUILD_DIR: where the time of a fresh-process pam_totp
# login goes (bench/README.md, "Where the time goes"). Run as root from the
# top of the tree after `make bench` has built BUILD_DIR. Prints, for
# pam_permit and pam_totp (and the peers' module loads):
#
#   1. loading each module in a new process (bench_load_once, median of
#      PROFILE_LOADS runs), the symbol relocations its dlopen processes
#      (LD_DEBUG=statistics) and the page faults of the whole process
#      (perf stat, when perf works here);
#   2. the calls the module makes, timed in each login's child
#      (bench/call_clock.c preloaded into bench_fresh), with the login's
#      phases from bench_fresh;
#   3. a perf profile of the logins' children by phase and kind (user code
#      by library, page faults, each system call, off the CPU), when
#      `perf record` works here (bench/profile_fresh.py).
#
# Environment: PROFILE_USERS (default 2000), PROFILE_SAMPLE (logins per
# stack, default 1000), PROFILE_LOADS (default 200), PROFILE_STACKS (default
# "pam_permit pam_totp"). Each stack runs alone (BENCH_ONLY), so the
# figures are of one module at a time, not of the interleaved mix that
# bench/RESULTS.md measures; compare the rows with each other.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: bench/profile.sh BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
users=${PROFILE_USERS:-2000}
sample=${PROFILE_SAMPLE:-1000}
loads=${PROFILE_LOADS:-200}
stacks=${PROFILE_STACKS:-pam_permit pam_totp}
for f in bench_fresh bench_load_once bench_logins pam_totp.so; do
    if [ ! -e "$build/$f" ]; then
        echo "profile: $build/$f missing: run make bench first" >&2
        exit 1
    fi
done
# The preload library: built here, as the bench programs are (a profiling
# tool, not part of `make bench`).
if [ ! -e "$build/call_clock.so" ] || [ -n "$(find "$here/call_clock.c" -newer "$build/call_clock.so")" ]; then
    ${CC:-cc} -shared -fPIC -O2 -Wall -Wextra -o "$build/call_clock.so" "$here/call_clock.c" -ldl
fi
tmp_root=/dev/shm
[ -d "$tmp_root" ] && [ -w "$tmp_root" ] || tmp_root=${TMPDIR:-/tmp}
out=$(mktemp -d "$tmp_root/pam_totp-profile.XXXXXX")
trap 'rm -rf "$out"' EXIT
trap 'exit 130' INT TERM

perf_ok=no
if command -v perf >/dev/null && perf stat -e page-faults -x, -o /dev/null true 2>/dev/null; then
    perf_ok=yes
fi

pamdir=$(pkg-config --variable=libdir pam 2>/dev/null || true)
pamdir=${pamdir:-/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)}/security
libdir=$(dirname "$pamdir")

echo "# 1. Loading a module in a new process (dlopen RTLD_NOW + dlclose)"
echo
echo "| object | load median µs | symbol relocations in its dlopen | page faults of the process |"
echo "|---|---:|---:|---:|"
for m in "$pamdir/pam_permit.so" "$pamdir/pam_google_authenticator.so" "$pamdir/pam_oath.so" \
    "$libdir/liboath.so.0" "$libdir/libnettle.so.8" "$build/pam_totp.so"; do
    [ -e "$m" ] || continue
    i=0
    while [ $i -lt "$loads" ]; do
        "$build/bench_load_once" "$m"
        i=$((i + 1))
    done | sort -n >"$out/loads"
    median=$(awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] }' "$out/loads")
    relocs=$(LD_DEBUG=statistics "$build/bench_load_once" "$m" 2>&1 >/dev/null | awk '
        /final number of relocations:/ { after = $NF; next }
        /number of relocations:/ { before = $NF }
        END { print after - before }')
    faults=-
    if [ "$perf_ok" = yes ]; then
        perf stat -r 20 -e page-faults -x, -o "$out/pf" "$build/bench_load_once" "$m" >/dev/null
        faults=$(awk -F, '/page-faults/ { printf "%.0f", $1 }' "$out/pf")
    fi
    echo "| $(basename "$m") | $median | $relocs | $faults |"
done
echo
echo "(The process alone, without the dlopen: pam_permit's row minus its own small load.)"

echo
echo "# 2. The module's calls in each login's child ($users users, $sample logins, each stack alone)"
for s in $stacks; do
    rm -f "$out/calls"
    BENCH_FRESH_PRELOAD="$build/call_clock.so" CALL_CLOCK_OUT="$out/calls" BENCH_ONLY="$s" BENCH_ONLY_MODEL=fresh \
        BENCH_USERS="$users" BENCH_SAMPLE="$sample" BENCH_RECOVERY=0 BENCH_PARALLEL=10 \
        sh "$here/run.sh" "$build" "$out/calls.md" >/dev/null 2>&1
    echo
    echo "## $s"
    echo
    echo "phases (median µs): $(sed -n '/where the time goes/,$p' "$out/calls.md" | grep "^| $users | $s" | head -n1)"
    echo "(login | fork → child | pam_start | pam_authenticate | pam_end | exit → wait4 | page faults)"
    echo
    echo '```'
    cat "$out/calls" 2>/dev/null || echo "(no calls recorded)"
    echo '```'
done

if [ "$perf_ok" = yes ] && perf record -q -o "$out/probe.data" true 2>/dev/null; then
    echo
    echo "# 3. perf profile of the logins' children, by phase ($users users, $sample logins, each stack alone)"
    for s in $stacks; do
        rm -f "$out/stamps"
        BENCH_FRESH_STAMPS="$out/stamps" BENCH_ONLY="$s" BENCH_ONLY_MODEL=fresh BENCH_USERS="$users" \
            BENCH_SAMPLE="$sample" BENCH_RECOVERY=0 BENCH_PARALLEL=10 \
            perf record -q -k mono -F 10000 -g -o "$out/perf.data" -- sh "$here/run.sh" "$build" "$out/perf.md" \
            >/dev/null 2>&1
        echo
        echo '```'
        python3 "$here/profile_fresh.py" "$out/stamps" "$out/perf.data" "$s"
        echo '```'
    done
fi
