#!/bin/sh
# packaging/copy-tree.sh DEST: copies the source tree, as the developer sees
# it, into DEST for a package build: the files git knows (tracked, or
# untracked and not ignored) that exist, so no build/ or dist/; outside git,
# everything but build, dist and .git. Shared by make deb and make rpm.
set -eu
dest=${1:?usage: copy-tree.sh DEST}
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # shellcheck disable=SC2016  # $f is expanded by the inner sh
    git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -xf - -C "$dest"
else
    tar --exclude=./build --exclude=./dist --exclude=./.git -cf - . | tar -xf - -C "$dest"
fi
