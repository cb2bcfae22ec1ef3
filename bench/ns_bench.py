#!/usr/bin/python3
"""Run the benchmark inside a private mount namespace.

Started by bench/run.sh as

    unshare --mount --propagation private /usr/bin/python3 ns_bench.py WORK -- COMMAND ARGS...

it mounts over /etc a tmpfs in which every entry of the host's /etc is
bind-mounted, except passwd and group, which come from WORK/etc (the host's
entries plus the bench users); and the same over /dev, with a datagram
socket bound at WORK/log.sock standing in for /dev/log.  Then it execs
COMMAND with "--log-fd N" appended: N is that socket, which the harness
drains (without a reader, syslog(3) blocks or falls back to the console,
and every module that logs would look slow).

The same technique as tests/e2e/ns_exec.py: a tmpfs copy of /etc rather
than a bind mount over the single file, so that a host tool replacing
/etc/passwd by rename (useradd, apt) while the benchmark runs is not seen
inside and the namespace's file is never seen outside.  Every mount dies
with the namespace; the host's /etc and /dev never change.
"""

import os
import socket
import sys

# The shared namespace helpers; no bytecode left in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import private_ns  # noqa: E402
from private_ns import replica  # noqa: E402


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: ns_bench.py WORK -- COMMAND...\n")
        return 2
    work, command = argv[1], argv[3:]
    # Refuse to mount anything unless this really is a new mount namespace
    # (run.sh passes the one it started in).
    if not private_ns.enter("BENCH_HOST_MNTNS", "ns_bench.py"):
        return 1

    log_path = os.path.join(work, "log.sock")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(log_path)
    log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    replica("/etc", os.path.join(work, "ns-etc"),
            {"passwd": os.path.join(work, "etc", "passwd"),
             "group": os.path.join(work, "etc", "group")}, "bench")
    replica("/dev", os.path.join(work, "ns-dev"), {"log": log_path}, "bench")

    fd = log.detach()
    os.set_inheritable(fd, True)
    os.execvp(command[0], command + ["--log-fd", str(fd)])
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
