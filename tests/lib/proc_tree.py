"""The processes a test run started, found by parent links in /proc.

The run makes itself their subreaper (become_subreaper), so that an
orphaned descendant (sshd's per-connection child, login's shell, a killed
su's helper) is re-parented to it instead of init; descendants() then
finds every process the run started, and kill_descendants() ends them all
without touching anything else on the machine. Used by tests/lib/ns_runner.py,
tests/lib/fleet_world.py, tests/security/world.py (the security and locker
namespace suites) and tests/e2e/run.py. Standard library only.
"""

import contextlib
import ctypes
import ctypes.util
import os
import signal
import time

PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def become_subreaper():
    """Orphaned descendants come to this process instead of init."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def descendants(of=None):
    """The pids of the live descendants of process OF (this process by default)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":
            continue   # dead, only waiting to be reaped
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [of or os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reap_orphans():
    """Reaps exited children (re-parented ones included) without waiting."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(rounds=200, pause=0.01, popens=()):
    """SIGKILLs and reaps every descendant, looking again each round (one
    may have started another meanwhile), for at most ROUNDS rounds PAUSE
    seconds apart. POPENS (the caller's subprocess.Popen objects) are
    polled before the orphans are reaped, so that they keep their own exit
    status. True when none is left."""
    for _ in range(rounds):
        victims = descendants()
        if not victims:
            return True
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(pause)
        for p in popens:
            p.poll()
        reap_orphans()
    return not descendants()


def proc_state(pid):
    """The state letter of process PID (R, S, T, Z...), None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def wait_stopped(pid, timeout=2.0):
    """True once PID is stopped; False when it is gone (or a zombie) first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = proc_state(pid)
        if state in ("T", "t"):
            return True
        if state in (None, "Z", "X"):
            return False
        time.sleep(0.0002)
    return False
