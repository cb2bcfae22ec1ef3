#!/usr/bin/python3
"""Security tests of pam_totp: the findings of issue 12 attacked through
the real setuid su (util-linux) and root's totp-enroll.

    TOTP_ENROLL=/abs/totp-enroll PAM_TOTP_MODULE=/abs/pam_totp.so \
    TESTS_DATA=/abs/tests/data /usr/bin/python3 tests/security/run.py

(`make build/results/security` sets these; PAM_LOGIN and TIME_SHIM are not
used: su is setuid, so no LD_PRELOAD clock reaches it.) SECURITY_ONLY=a,b
runs only the tests whose names contain one of the words.

Needs root, util-linux (su, unshare, setpriv, prlimit), oathtool and
python3-pexpect; exits 77 without them. The host is never changed: this
script makes a temporary directory and runs ns_suite.py as the init of
private mount and PID namespaces (`unshare --mount --pid`), where world.py
puts the test's passwd, shadow, group, login.defs and pam.d in a tmpfs
copy of /etc, the test's socket at /dev/log, and tmpfs over /run and
/var/log. The test users (an attacker and the victims) exist only in
there; the mounts die with the namespace's last process.

Every process started is killed at the end, also on failure or Ctrl-C:
this script is the subreaper of all it starts and ns_suite.py the init of
its PID namespace, and should this script be killed outright, setpriv
--pdeathsig and unshare --kill-child take the namespace's init down, and
the kernel every process in it. Afterwards it checks that the host's
pam.d/su, pam.d/other and login.defs are unchanged, that no test user is
in its user database or login records, that no process is left and that
the temporary directory is gone.

The last line is "N passed, M failed"; the exit status is 0 when all
passed, 1 when any failed, 77 when the suite cannot run here.
"""

import ctypes
import ctypes.util
import hashlib
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NS_SUITE = os.path.join(HERE, "ns_suite.py")
PYTHON = "/usr/bin/python3"
SUITE_TIMEOUT = 300       # seconds; the suite takes well under a minute
# A mount namespace (the test's /etc) and a PID namespace whose init is
# ns_suite.py: when it dies, the kernel kills every process in there (a
# SIGSTOPped setuid su included, which no parent-death signal reaches);
# --kill-child kills it when unshare dies, and setpriv --pdeathsig kills
# unshare when this script dies, even by SIGKILL.
UNSHARE = ["unshare", "--mount", "--pid", "--fork", "--kill-child=KILL", "--mount-proc",
           "--propagation", "private"]
# Files whose content must be the same after the run (the namespace has
# its own copies). The user database and the login records may change
# meanwhile (`make -j2 check` runs tests/cli, which adds users on the
# host): in those only the test users must never appear.
WATCHED = ["/etc/login.defs", "/etc/pam.d/su", "/etc/pam.d/other"]
USER_FILES = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"]
RECORD_FILES = ["/run/utmp", "/var/log/wtmp", "/var/log/btmp"]
TEST_USERS = ["totpatk"] + ["totpv%d" % i for i in range(1, 8)]


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


def skip(why):
    print("skipped: " + why)
    print("0 passed, 0 failed (skipped: %s)" % why)
    return 77


def file_digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


def become_subreaper():
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:   # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def descendants():
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
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_all():
    for _ in range(200):
        victims = descendants()
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


def host_users():
    """Every name in the host's passwd, shadow, group and gshadow."""
    names = set()
    for path in USER_FILES:
        try:
            with open(path) as f:
                names |= {l.split(":")[0] for l in f if ":" in l}
        except OSError:
            pass
    return names


def records_naming_test_users():
    """The host's login records (utmp, wtmp, btmp) that name a test user."""
    found = []
    for path in RECORD_FILES:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if any(name.encode() + b"\0" in data for name in TEST_USERS):
            found.append(path)
    return found


def main():
    if os.geteuid() != 0:
        return skip("needs root (runs su as an unprivileged attacker in a private mount namespace)")
    env = {}
    for var in ("PAM_TOTP_MODULE", "TOTP_ENROLL", "TESTS_DATA"):
        value = os.environ.get(var, "")
        if not os.path.isabs(value) or not os.path.exists(value):
            print("error: %s must name the built file (or tests/data) by absolute path (got %r)" % (var, value))
            print("0 passed, 1 failed")
            return 1
        env[var] = value
    missing = [p for p in ("unshare", "setpriv", "prlimit", "oathtool") if not shutil.which(p)]
    su = shutil.which("su") or "/bin/su"
    try:
        st = os.stat(su)
        if st.st_uid != 0 or not st.st_mode & stat.S_ISUID:
            missing.append("a setuid-root su")
    except FileNotFoundError:
        missing.append("su")
    if importlib.util.find_spec("pexpect") is None:
        missing.append("python3-pexpect")
    if missing:
        return skip("missing " + ", ".join(missing))
    probe = subprocess.run(UNSHARE + ["true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return skip("no mount namespaces here: " + probe.stderr.strip())
    taken = sorted(set(TEST_USERS) & host_users())
    if taken:
        print("error: test user names exist on this host: %s" % " ".join(taken))
        print("0 passed, 1 failed")
        return 1

    become_subreaper()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    before = {p: file_digest(p) for p in WATCHED}
    passed = failed = 0
    started = time.time()
    root = None
    proc = None
    try:
        root = tempfile.mkdtemp(prefix="pam_totp-security.")
        os.chmod(root, 0o755)   # homes and secrets below it must pass the module's path checks
        child_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C",
                     "SECURITY_HOST_MNTNS": os.readlink("/proc/self/ns/mnt"),
                     "SECURITY_ONLY": os.environ.get("SECURITY_ONLY", "")}
        child_env.update(env)
        proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL"] + UNSHARE + [PYTHON, NS_SUITE, root],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", env=child_env, start_new_session=True)
        timer = threading.Timer(SUITE_TIMEOUT, lambda: os.kill(proc.pid, signal.SIGKILL))
        timer.daemon = True
        timer.start()
        summary_seen = False
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("ok - "):
                passed += 1
            elif line.startswith("FAIL - "):
                failed += 1
            if line.endswith(" failed") and " passed, " in line:
                summary_seen = True
                print("# namespace: " + line, flush=True)
                continue
            print(line, flush=True)
        rc = proc.wait()
        timer.cancel()
        if rc not in (0, 1) or not summary_seen:
            failed += 1
            print("FAIL - the suite in the namespace ended with status %s%s" %
                  (rc, "" if summary_seen else " before its summary"
                   + (" (killed after %d s)" % SUITE_TIMEOUT if rc == -signal.SIGKILL else "")), flush=True)
        elif rc == 1 and failed == 0:
            failed += 1
            print("FAIL - the suite in the namespace failed without saying what", flush=True)
    except Interrupted as e:
        failed += 1
        print("FAIL - run: interrupted (%s)" % e, flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        kill_all()
        if proc is not None and proc.stdout:
            proc.stdout.close()
        if root:
            shutil.rmtree(root, ignore_errors=True)

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("ok - " + name)
        else:
            failed += 1
            print("FAIL - %s: %s" % (name, detail))

    after = {p: file_digest(p) for p in WATCHED}
    changed = [p for p in WATCHED if before[p] != after[p]]
    check("host unchanged: " + ", ".join(WATCHED), not changed, "changed: " + " ".join(changed))
    left = sorted(set(TEST_USERS) & host_users())
    check("no test user in the host's user database (passwd, shadow, group, gshadow)", not left, " ".join(left))
    records = records_naming_test_users()
    check("no test user in the host's utmp, wtmp or btmp", not records, " ".join(records))
    leftover = descendants()
    check("no process left behind", not leftover, "pids %s" % leftover)
    if root:
        check("temporary directory removed", not os.path.exists(root), root)
    print("# %.1f s" % (time.time() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
