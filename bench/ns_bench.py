#!/usr/bin/python3
"""Run the benchmark inside a private mount namespace.

Started by bench/run.sh as

    unshare --mount --propagation private /usr/bin/python3 ns_bench.py WORK [--fleet BUILD] -- COMMAND ARGS...

it mounts over /etc a tmpfs in which every entry of the host's /etc is
bind-mounted, except passwd and group, which come from WORK/etc (the host's
entries plus the bench users); and the same over /dev, with a datagram
socket bound at WORK/log.sock standing in for /dev/log.  Then it execs
COMMAND with "--log-fd N" appended: N is that socket, which the harness
drains (without a reader, syslog(3) blocks or falls back to the console,
and every module that logs would look slow).

With --fleet BUILD it first starts a throwaway PostgreSQL cluster under
WORK (bench/fleet_store.py: the databases of the fleet rows, their
store.conf files in WORK/fleet), runs COMMAND as its child with
"--fleet-dir WORK/fleet" appended too, and stops the cluster when COMMAND
ends, fails or is interrupted (SIGINT and SIGTERM are passed on to it).

The same technique as tests/e2e/ns_exec.py: a tmpfs copy of /etc rather
than a bind mount over the single file, so that a host tool replacing
/etc/passwd by rename (useradd, apt) while the benchmark runs is not seen
inside and the namespace's file is never seen outside.  Every mount dies
with the namespace; the host's /etc and /dev never change.
"""

import os
import signal
import socket
import subprocess
import sys

# The shared namespace helpers; no bytecode left in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import private_ns  # noqa: E402
from private_ns import replica  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_store  # noqa: E402

# One database per fleet store (bench_logins.cpp: the fleet pass's stacks).
FLEET_DATABASES = ["in_socket", "in_tls", "fresh_socket", "fresh_tls", "profile_socket", "profile_tls"]


class Fleet:
    """The throwaway cluster of the fleet rows around the harness: started
    before the namespace's /dev/log replaces the host's (runuser logs through
    it, and nothing reads the bench's socket before the harness runs), and
    stopped without PAM (fleet_store.stop) whatever happens."""

    def __init__(self, work, build):
        self.work, self.build = work, build
        self.cluster = None
        self.child = None
        signal.signal(signal.SIGTERM, self._pass_on)
        signal.signal(signal.SIGINT, self._pass_on)

    def _pass_on(self, signum, _frame):
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)
        else:
            raise KeyboardInterrupt

    def start(self):
        self.cluster = fleet_store.start(self.work, self.build, FLEET_DATABASES)

    def run(self, command, fd):
        """Runs COMMAND (the harness) with --fleet-dir; its exit status."""
        self.child = subprocess.Popen(command + ["--fleet-dir", os.path.join(self.work, "fleet")], pass_fds=(fd,))
        os.close(fd)
        return self.child.wait()

    def stop(self):
        fleet_store.stop(self.cluster)
        self.cluster = None


def main(argv):
    fleet_build = None
    if len(argv) >= 4 and argv[2] == "--fleet":
        fleet_build = argv[3]
        argv = argv[:2] + argv[4:]
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: ns_bench.py WORK [--fleet BUILD] -- COMMAND...\n")
        return 2
    work, command = argv[1], argv[3:]
    # Refuse to mount anything unless this really is a new mount namespace
    # (run.sh passes the one it started in).
    if not private_ns.enter("BENCH_HOST_MNTNS", "ns_bench.py"):
        return 1
    fleet = None
    if fleet_build is not None:
        fleet = Fleet(work, fleet_build)
        try:
            fleet.start()
        except KeyboardInterrupt:
            fleet.stop()
            return 130
        except BaseException:
            fleet.stop()
            raise
    try:
        return run(work, command, fleet)
    except KeyboardInterrupt:
        return 130
    finally:
        if fleet is not None:
            fleet.stop()


def run(work, command, fleet):
    """Mounts the replicas and runs COMMAND (exec, or beside the fleet's cluster)."""
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
    if fleet is not None:
        return fleet.run(command + ["--log-fd", str(fd)], fd)
    os.execvp(command[0], command + ["--log-fd", str(fd)])
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
