#!/usr/bin/python3
"""Run one command inside the private mount namespace of an e2e test.

Started as

    unshare --mount --propagation private /usr/bin/python3 ns_exec.py \
        ROOT PAMD LOGSOCK -- COMMAND ARGS...

it mounts over /etc a tmpfs copy of it (each entry bind-mounted from the
host's) in which

    ROOT/etc/passwd, shadow, group  stand for /etc/passwd, shadow, group
                                    (the host's entries plus the test users)
    PAMD                            stands for /etc/pam.d (the test's services)

and the same over /dev, with LOGSOCK as /dev/log (so that the module's
syslog lines reach the test, not the host's log); and
    a tmpfs                         over /run (with an empty /run/sshd for
                                    sshd's privilege separation and an empty
                                    utmp) and over /var/log (wtmp, btmp,
                                    lastlog written by login and sshd)

then execs COMMAND.

Every mount lives and dies with the namespace: when its last process exits
the kernel drops them, so the host's /etc, /run and /var/log never change,
whatever happens to the test.  Only the standard library is used; mount(2)
is called through ctypes (the namespace has no shell scripts to go wrong).
"""

import os
import sys

# The shared namespace helpers; no bytecode left in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import private_ns  # noqa: E402
from private_ns import MS_NODEV, MS_NOSUID, mount, replica, touch  # noqa: E402


def main(argv):
    if len(argv) < 6 or argv[4] != "--":
        sys.stderr.write("usage: ns_exec.py ROOT PAMD LOGSOCK -- COMMAND...\n")
        return 2
    root, pamd, log_socket, command = argv[1], argv[2], argv[3], argv[5:]

    # Refuse to mount anything unless this process really is in a mount
    # namespace other than the one run.py started in.
    if not private_ns.enter("E2E_HOST_MNTNS", "ns_exec.py"):
        return 1

    etc = {name: os.path.join(root, "etc", name) for name in ("passwd", "shadow", "group")}
    etc["pam.d"] = pamd
    replica("/etc", os.path.join(root, "ns-etc"), etc, "e2e")
    replica("/dev", os.path.join(root, "ns-dev"), {"log": log_socket}, "e2e")

    mount("e2e-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    os.mkdir("/run/sshd", 0o755)
    touch("/run/utmp", 0o664)
    mount("e2e-log", "/var/log", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")

    os.execvp(command[0], command)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
