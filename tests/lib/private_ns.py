"""Private mount namespaces for tests and benchmarks that need their own
/etc (passwd, shadow, group, pam.d) and /dev/log without changing the host's.

Used by tests/e2e/ns_exec.py and bench/ns_bench.py, each started as
`unshare --mount --propagation private /usr/bin/python3 SCRIPT ...`.
Every mount made here lives and dies with the namespace: when its last
process exits the kernel drops them, whatever happens to the caller.
Only the standard library is used; mount(2) is called through ctypes.
"""

import ctypes
import ctypes.util
import os
import stat

MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18

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


def enter(host_ns_env, who):
    """The guard that keeps the host safe: refuses (returns False) unless
    this process is in a mount namespace other than the one named by the
    environment variable HOST_NS_ENV (set by the caller before unshare;
    /proc/1/ns may not be readable), then makes every mount private."""
    host_ns = os.environ.get(host_ns_env, "")
    if not host_ns or os.readlink("/proc/self/ns/mnt") == host_ns:
        os.write(2, ("%s: not in a private mount namespace; refusing\n" % who).encode())
        return False
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    return True


def replica(directory, scratch, overrides, tag):
    """Mounts over DIRECTORY a tmpfs in which every entry of the real one is
    bind-mounted (symbolic links copied), except that the entries named in
    OVERRIDES come from the given paths instead.

    Binding single files straight over /etc/passwd would not do: the mount
    sits on that directory entry, and when the host replaces the file by a
    rename (useradd, apt, vipw all do) the namespace would see the host's
    new file. The tmpfs's own entries cannot be renamed over by the host."""
    os.makedirs(scratch, 0o755, exist_ok=True)
    mount(tag + "-" + os.path.basename(directory), scratch, "tmpfs", MS_NOSUID,
          "mode=0755,size=1m")
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
                touch(dst)
                mount(src, dst, None, MS_BIND)
        except FileNotFoundError:
            if name in overrides:
                raise
            # A host file that vanished while we looked (a lock file of
            # useradd, say): the namespace can do without it.
    mount(scratch, directory, None, MS_MOVE)
