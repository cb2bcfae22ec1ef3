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

import ctypes
import ctypes.util
import os
import stat
import sys

MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOSUID = 2
MS_NODEV = 4

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _enc(text):
    return None if text is None else os.fsencode(text)


def mount(source, target, fstype=None, flags=0, data=None):
    rc = _libc.mount(_enc(source), _enc(target), _enc(fstype),
                     ctypes.c_ulong(flags), _enc(data))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "mount %s on %s: %s" % (source, target, os.strerror(err)))


def touch(path, mode=0o644):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, mode))


def replica(directory, scratch, overrides):
    """Mounts over DIRECTORY a tmpfs in which every entry of the real one is
    bind-mounted (symbolic links copied), except that the entries named in
    OVERRIDES come from the given paths instead.

    Binding single files straight over /etc/passwd would not do: the mount
    sits on that directory entry, and when the host replaces the file by a
    rename (useradd, apt, vipw all do) the namespace would see the host's
    new file.  The tmpfs's own entries cannot be renamed over by the host."""
    mount("e2e-" + os.path.basename(directory), scratch, "tmpfs", MS_NOSUID,
          "mode=0755,size=1m")
    names = set(os.listdir(directory)) | set(overrides)
    for name in sorted(names):
        src = overrides.get(name, os.path.join(directory, name))
        dst = os.path.join(scratch, name)
        try:
            st = os.lstat(src)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISDIR(st.st_mode):
                os.mkdir(dst, 0o755)
                mount(src, dst, None, MS_BIND | MS_REC)
            else:
                touch(dst)
                mount(src, dst, None, MS_BIND)
        except FileNotFoundError:
            if name in overrides:
                raise
            # A host file that vanished while we looked (a lock file of
            # useradd, say): the namespace can do without it.
    mount(scratch, directory, None, MS_MOVE)


def main(argv):
    if len(argv) < 6 or argv[4] != "--":
        sys.stderr.write("usage: ns_exec.py ROOT PAMD LOGSOCK -- COMMAND...\n")
        return 2
    root, pamd, log_socket, command = argv[1], argv[2], argv[3], argv[5:]

    # The guard that keeps the host safe: refuse to mount anything unless
    # this process really is in a mount namespace other than the one run.py
    # started in (E2E_HOST_MNTNS; /proc/1/ns may not be readable).
    host_ns = os.environ.get("E2E_HOST_MNTNS", "")
    if not host_ns or os.readlink("/proc/self/ns/mnt") == host_ns:
        sys.stderr.write("ns_exec.py: not in a private mount namespace; refusing\n")
        return 1
    mount(None, "/", None, MS_REC | MS_PRIVATE)

    etc = {name: os.path.join(root, "etc", name) for name in ("passwd", "shadow", "group")}
    etc["pam.d"] = pamd
    replica("/etc", os.path.join(root, "ns-etc"), etc)
    replica("/dev", os.path.join(root, "ns-dev"), {"log": log_socket})

    mount("e2e-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    os.mkdir("/run/sshd", 0o755)
    touch("/run/utmp", 0o664)
    mount("e2e-log", "/var/log", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")

    os.execvp(command[0], command)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
