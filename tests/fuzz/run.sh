#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR [SECONDS]: builds the libFuzzer targets with
# clang into BUILD_DIR/fuzz (tests/fuzz/fuzz.mk), then for each target
#   1. runs every seed (tests/fuzz/corpus/*/*) and every old crash
#      (tests/fuzz/regressions/*/*) once, so fixed bugs stay fixed;
#   2. fuzzes for SECONDS (default $FUZZ_SECONDS, else 60) on a temporary copy
#      of its seed corpus (the repository corpus never grows), with its
#      dictionary, -timeout=5 and -rss_limit_mb=2048.
# Any crash, failed property, leak, timeout or out-of-memory fails the run;
# the input that caused it is copied to tests/fuzz/regressions/<target>/.
# Run from anywhere; leaves nothing behind but those regression inputs.
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mkdir -p "$1" && cd "$1" && pwd)
seconds=${2:-${FUZZ_SECONDS:-60}}
case $seconds in
    '' | *[!0-9]*) echo "$0: SECONDS must be a whole number" >&2; exit 2 ;;
esac
fuzzdir=$top/tests/fuzz
targets=(secret_file account_state legacy_state slot_file module_options path_template recovery_code ga_import pam_oath_import helper_request)
common=(-timeout=5 -rss_limit_mb=2048 -print_final_stats=1)

echo "== building the fuzz targets (clang) in $build/fuzz"
if ! make -C "$top" -f tests/fuzz/fuzz.mk FUZZ_BUILD="$build/fuzz" -j"$(nproc)" >"$build/fuzz-build.log" 2>&1; then
    cat "$build/fuzz-build.log" >&2
    echo "$0: the fuzz build failed" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/pam_totp-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# Keeps what libFuzzer wrote to the artifact directory as regression inputs.
keep_artifacts() {
    local target=$1 art=$2 f
    mkdir -p "$fuzzdir/regressions/$target"
    for f in "$art"/*; do
        [ -f "$f" ] || continue
        cp "$f" "$fuzzdir/regressions/$target/"
        echo "   kept tests/fuzz/regressions/$target/$(basename "$f")"
    done
}

mapfile -t replay < <(find "$fuzzdir/corpus" "$fuzzdir/regressions" -type f ! -name '.*' 2>/dev/null | sort)
failed=0
summary=()
for t in "${targets[@]}"; do
    bin=$build/fuzz/fuzz_$t
    dict=()
    [ -f "$fuzzdir/dict/$t.dict" ] && dict=(-dict="$fuzzdir/dict/$t.dict")
    art=$tmp/$t.artifacts
    mkdir -p "$art" "$tmp/$t.corpus"

    echo "== $t: ${#replay[@]} seeds and regression inputs, once each"
    if ! "$bin" "${common[@]}" -artifact_prefix="$art/" "${replay[@]}" >"$tmp/$t.replay.log" 2>&1; then
        tail -n 40 "$tmp/$t.replay.log" >&2
        echo "FAIL $t: a seed or regression input fails" >&2
        keep_artifacts "$t" "$art"
        failed=1
        summary+=("$t: FAIL (replay)")
        continue
    fi

    echo "== $t: fuzzing for ${seconds}s"
    cp -R "$fuzzdir/corpus/$t/." "$tmp/$t.corpus/"
    "$bin" "${common[@]}" "${dict[@]}" -max_total_time="$seconds" -artifact_prefix="$art/" \
        "$tmp/$t.corpus" >"$tmp/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log" | tail -n 1)
    if [ $rc -ne 0 ] || ls "$art"/* >/dev/null 2>&1; then
        grep -B2 -A30 -m1 'ERROR: \|property failed\|==ERROR' "$tmp/$t.log" >&2 || tail -n 40 "$tmp/$t.log" >&2
        echo "FAIL $t (exit $rc)" >&2
        keep_artifacts "$t" "$art"
        failed=1
        summary+=("$t: FAIL after ${execs:-?} executions")
    else
        summary+=("$t: ok, ${execs:-?} executions in ${seconds}s")
    fi
done

echo "== fuzz summary"
printf '   %s\n' "${summary[@]}"
if [ $failed -ne 0 ]; then
    echo "FAIL: see above; crashing inputs are in tests/fuzz/regressions/" >&2
    exit 1
fi
echo "ok - all fuzz targets clean"
