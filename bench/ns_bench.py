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

import ctypes
import ctypes.util
import os
import socket
import stat
import sys

MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOSUID = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _enc(text):
    return None if text is None else os.fsencode(text)


def mount(source, target, fstype=None, flags=0, data=None):
    rc = _libc.mount(_enc(source), _enc(target), _enc(fstype),
                     ctypes.c_ulong(flags), _enc(data))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "mount %s on %s: %s" % (source, target, os.strerror(err)))


def replica(directory, scratch, overrides):
    """Mounts over DIRECTORY a tmpfs holding bind mounts of each of its
    entries (symbolic links copied), the names in OVERRIDES from the given
    paths instead."""
    os.mkdir(scratch, 0o755)
    mount("bench-" + os.path.basename(directory), scratch, "tmpfs", MS_NOSUID, "mode=0755,size=1m")
    for name in sorted(set(os.listdir(directory)) | set(overrides)):
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
                os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
                mount(src, dst, None, MS_BIND)
        except FileNotFoundError:
            if name in overrides:
                raise
    mount(scratch, directory, None, MS_MOVE)


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: ns_bench.py WORK -- COMMAND...\n")
        return 2
    work, command = argv[1], argv[3:]
    # Refuse to mount anything unless this really is a new mount namespace
    # (run.sh passes the one it started in).
    host_ns = os.environ.get("BENCH_HOST_MNTNS", "")
    if not host_ns or os.readlink("/proc/self/ns/mnt") == host_ns:
        sys.stderr.write("ns_bench.py: not in a private mount namespace; refusing\n")
        return 1
    mount(None, "/", None, MS_REC | MS_PRIVATE)

    log_path = os.path.join(work, "log.sock")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(log_path)
    log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    replica("/etc", os.path.join(work, "ns-etc"),
            {"passwd": os.path.join(work, "etc", "passwd"),
             "group": os.path.join(work, "etc", "group")})
    replica("/dev", os.path.join(work, "ns-dev"), {"log": log_path})

    fd = log.detach()
    os.set_inheritable(fd, True)
    os.execvp(command[0], command + ["--log-fd", str(fd)])
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
