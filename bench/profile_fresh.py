#!/usr/bin/python3
"""Where the time of a fresh-process login goes, from a perf profile.

    bench/profile_fresh.py STAMPS PERF_DATA [LABEL]

STAMPS is the file bench_fresh appends to when BENCH_FRESH_STAMPS names it
(bench/fresh.c: pid and CLOCK_MONOTONIC times of fork, child start, end of
pam_start, pam_authenticate, pam_end, wait4's return, per login), and
PERF_DATA a `perf record -k mono -F 20000 -g` of the same run (-k mono: the
samples' times are CLOCK_MONOTONIC too). bench/README.md shows the whole
command. Every sample of a login's child (and of bench_fresh itself between
fork and the child's start) is put in its phase by its time, then in a kind
by its stack: user code by library (the leaf frame), page faults, each
system call, other kernel work. The time a phase spends off the CPU
(blocked on a disk flush, a lock, or waiting to be scheduled) is its wall
time minus its samples.

Prints, per phase, µs per login: wall time (mean), on CPU by kind, off CPU.
"""

import bisect
import collections
import re
import subprocess
import sys

PHASES = ["fork", "pam_start", "pam_authenticate", "pam_end", "exit"]


def read_stamps(path):
    by_pid = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) != 7:
                continue
            pid, t0, child, start, auth, end, t1 = fields[0], *map(int, fields[1:])
            if child == 0:
                continue  # the child died before stamping
            by_pid[pid] = (t0, child, start, auth, end, t1)
    return by_pid


def samples(perf_data):
    """(pid, time ns, period ns, [(sym, dso)] leaf first) of every sample."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "--ns", "-F", "pid,time,period,ip,sym,dso"],
                         check=True, capture_output=True, text=True).stdout
    head = re.compile(r"^\s*(\d+)\s+(\d+)\.(\d+):\s+(\d+)")
    frame = re.compile(r"^\s+[0-9a-f]+ (.*) \((.*)\)$")
    cur = None
    for line in out.splitlines():
        m = head.match(line)
        if m:
            if cur:
                yield cur
            cur = (m.group(1), int(m.group(2)) * 1000000000 + int(m.group(3).ljust(9, "0")[:9]),
                   int(m.group(4)), [])
            continue
        m = frame.match(line)
        if m and cur:
            cur[3].append((m.group(1), m.group(2)))
    if cur:
        yield cur


def kind(chain):
    syms = [s for s, _ in chain]
    dsos = [d for _, d in chain]
    if any("asm_exc_page_fault" in s for s in syms):
        return "page faults"
    calls = [s for s in syms if s.startswith("__x64_sys_") or s.startswith("__do_sys_")]
    if calls:
        return "syscall " + re.sub(r"^__(x64|do)_sys_", "", calls[-1])
    if not dsos or dsos[0].startswith("["):
        return "kernel, other (interrupts, scheduling)"
    lib = dsos[0].rsplit("/", 1)[-1]
    if lib.startswith("ld-linux"):
        # The dynamic loader: symbol lookup and relocation, or mapping.
        lookup = any(s in ("do_lookup_x", "_dl_lookup_symbol_x", "check_match", "strcmp", "_dl_relocate_object",
                           "_dl_name_match_p", "_dl_check_map_versions", "match_symbol") for s in syms[:1])
        return "ld.so: symbol lookup, relocation" if lookup else "ld.so: other"
    return "user code: " + re.sub(r"\.so.*", ".so", lib)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    stamps = read_stamps(argv[1])
    if not stamps:
        sys.stderr.write("profile_fresh.py: no logins in %s\n" % argv[1])
        return 1
    parents = collections.defaultdict(list)  # bench_fresh's own samples, matched to the fork windows
    windows = sorted((t[0], t[1]) for t in stamps.values())
    on_cpu = collections.defaultdict(collections.Counter)  # phase -> kind -> ns
    for pid, t, period, chain in samples(argv[2]):
        st = stamps.get(pid)
        if st is None:
            parents[pid].append((t, period, chain))
            continue
        t0, child, start, auth, end, t1 = st
        bounds = [child, start, auth, end, t1 + 1]
        if t < child:
            continue
        for i, b in enumerate(bounds[1:]):
            if t < b:
                on_cpu[PHASES[i + 1]][kind(chain)] += period
                break
    # The parent's part of the fork (copying its page tables) lies in [t0, child start).
    starts = [w[0] for w in windows]
    for pid, items in parents.items():
        for t, period, chain in items:
            i = bisect.bisect_right(starts, t) - 1
            if i >= 0 and windows[i][0] <= t < windows[i][1]:
                on_cpu["fork"][kind(chain)] += period
    n = len(stamps)
    wall = {p: [] for p in PHASES}
    for t0, child, start, auth, end, t1 in stamps.values():
        for p, a, b in zip(PHASES, [t0, child, start, auth, end], [child, start, auth, end, t1]):
            wall[p].append(b - a)
    totals = sorted(t[5] - t[0] for t in stamps.values())
    label = argv[3] if len(argv) > 3 else argv[1]
    print(f"{label}: {n} logins; µs per login: mean (median) wall time, mean on CPU by kind, mean off CPU")
    print(f"  login (fork to wait4): {sum(totals) / n / 1000:.0f} ({totals[(n - 1) // 2] / 1000:.0f})")
    for p in PHASES:
        w = sum(wall[p]) / n / 1000
        med = sorted(wall[p])[(n - 1) // 2] / 1000
        cpu = sum(on_cpu[p].values()) / n / 1000
        print(f"  {p}: {w:.0f} ({med:.0f}) wall, {cpu:.0f} on CPU, {max(w - cpu, 0):.0f} off CPU")
        for k, ns in on_cpu[p].most_common():
            us = ns / n / 1000
            if us >= 1:
                print(f"      {k}: {us:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
