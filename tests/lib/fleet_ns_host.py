#!/usr/bin/python3
"""One "host" of the fleet tests and of `make demo-fleet`: a private mount
namespace that stays up while this process lives, and in which the test
runs its commands with nsenter (fleet_world.Host).

Started by fleet_world.py as

    setpriv --pdeathsig KILL unshare --mount --propagation private \
        /usr/bin/python3 fleet_ns_host.py HOSTDIR

it mounts, over the host's own directories,

    /etc            a tmpfs copy of /etc (each entry bind-mounted) in which
                    pam.d is HOSTDIR/pam.d and pam_totp is HOSTDIR/etc-pam_totp
                    (store.conf, the secrets), and passwd, shadow, group are
                    HOSTDIR/etc/* when the world made them
    /dev            the same, with HOSTDIR/log.sock as /dev/log
    /var/lib        the same, with HOSTDIR/state as /var/lib/pam_totp
    /run, /var/log  empty tmpfs (sshd's privilege separation directory,
                    utmp, wtmp and lastlog)

then prints "ready" and waits until its standard input closes (the world
closes it, or dies). Every mount lives and dies with the namespace: the
host's /etc, /dev, /var/lib, /run and /var/log never change.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import private_ns  # noqa: E402
from private_ns import MS_NODEV, MS_NOSUID, mount, replica, touch  # noqa: E402


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: fleet_ns_host.py HOSTDIR\n")
        return 2
    host = argv[1]
    # Mounts nothing unless this process is in a namespace of its own.
    if not private_ns.enter("FLEET_HOST_MNTNS", "fleet_ns_host.py"):
        return 1
    etc = {"pam.d": os.path.join(host, "pam.d"), "pam_totp": os.path.join(host, "etc-pam_totp")}
    for name in ("passwd", "shadow", "group"):
        path = os.path.join(host, "etc", name)
        if os.path.exists(path):
            etc[name] = path
    replica("/etc", os.path.join(host, "ns-etc"), etc, "fleet")
    replica("/dev", os.path.join(host, "ns-dev"), {"log": os.path.join(host, "log.sock")}, "fleet")
    replica("/var/lib", os.path.join(host, "ns-varlib"), {"pam_totp": os.path.join(host, "state")}, "fleet")
    mount("fleet-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    os.mkdir("/run/sshd", 0o755)
    touch("/run/utmp", 0o664)
    mount("fleet-log", "/var/log", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()  # until the world closes the pipe (or dies)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
