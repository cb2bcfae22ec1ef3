#!/bin/sh
# tests/summary.sh RESULTS_DIR: the last line of `make check`, counted from
# the result files the test targets wrote (pass, fail or skip), and the exit
# status: 1 when anything failed or nothing ran.
dir=${1:?usage: summary.sh RESULTS_DIR}
passed=0 failed=0 skipped=0 failures=""
for f in $(find "$dir" -type f ! -name '*.log' 2>/dev/null | sort); do
    case $(cat "$f") in
        pass) passed=$((passed + 1)) ;;
        skip) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)); failures="$failures ${f#"$dir"/}" ;;
    esac
done
[ -n "$failures" ] && echo "failed:$failures"
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
