"""The host side of a test suite that runs as the init of private mount and
PID namespaces (`unshare --mount --pid`): tests/security/run.py and
tests/locker/run.py use it (their ns_suite.py: suite_run.namespace_init).

    rc = ns_runner.run_suite(
        script="/abs/ns_suite.py", prefix="pam_totp-locker.",
        env={"PAM_TOTP_MODULE": ...}, mntns_var="SECURITY_HOST_MNTNS",
        test_users=[...], watched=["/etc/pam.d/other", ...], timeout=300)

It makes a temporary directory ROOT (0755, root's), runs
`setpriv --pdeathsig KILL unshare --mount --pid --fork --kill-child=KILL
--mount-proc --propagation private /usr/bin/python3 SCRIPT ROOT`, echoes its
"ok - " / "FAIL - " / "# " lines and counts them, and afterwards checks
that the host was left as found: the WATCHED files unchanged, no test user
in the user database or the login records, no process left behind (this
process is the subreaper of all it starts; the namespace's init takes the
rest down with it), the temporary directory removed. Ctrl-C, SIGTERM and
SIGHUP end the run through the same cleanup. The last line printed is
"N passed, M failed"; the return value 0, 1, or 77 (skip() was called).
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc_tree import become_subreaper, descendants, kill_descendants  # noqa: E402
from suite_run import Interrupted, ignore_signals, trap_signals  # noqa: E402

PYTHON = "/usr/bin/python3"
UNSHARE = ["unshare", "--mount", "--pid", "--fork", "--kill-child=KILL", "--mount-proc",
           "--propagation", "private"]
USER_FILES = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"]
RECORD_FILES = ["/run/utmp", "/var/log/wtmp", "/var/log/btmp"]


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


def host_users():
    names = set()
    for path in USER_FILES:
        try:
            with open(path) as f:
                names |= {l.split(":")[0] for l in f if ":" in l}
        except OSError:
            pass
    return names


def records_naming(users):
    found = []
    for path in RECORD_FILES:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if any(name.encode() + b"\0" in data for name in users):
            found.append(path)
    return found


def namespaces_work():
    """None when `unshare --mount --pid` works here, else why not."""
    probe = subprocess.run(UNSHARE + ["true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else (probe.stderr.strip() or "unshare failed")


def run_suite(script, prefix, env, mntns_var, test_users, watched, timeout, extra_checks=None):
    """Runs SCRIPT ROOT in the namespaces; see the module's docstring.
    EXTRA_CHECKS(check, root) may add host checks after the run."""
    taken = sorted(set(test_users) & host_users())
    if taken:
        print("error: test user names exist on this host: %s" % " ".join(taken))
        print("0 passed, 1 failed")
        return 1
    become_subreaper()
    trap_signals()
    before = {p: file_digest(p) for p in watched}
    passed = failed = 0
    started = time.time()
    root = None
    proc = None
    try:
        root = tempfile.mkdtemp(prefix=prefix)
        os.chmod(root, 0o755)   # homes and secrets below it must pass the module's path checks
        child_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C",
                     mntns_var: os.readlink("/proc/self/ns/mnt")}
        child_env.update(env)
        proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL"] + UNSHARE + [PYTHON, script, root],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", env=child_env, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
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
                   + (" (killed after %d s)" % timeout if rc == -signal.SIGKILL else "")), flush=True)
        elif rc == 1 and failed == 0:
            failed += 1
            print("FAIL - the suite in the namespace failed without saying what", flush=True)
    except Interrupted as e:
        failed += 1
        print("FAIL - run: interrupted (%s)" % e, flush=True)
    finally:
        ignore_signals()
        kill_descendants()
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

    after = {p: file_digest(p) for p in watched}
    changed = [p for p in watched if before[p] != after[p]]
    check("host unchanged: " + ", ".join(watched), not changed, "changed: " + " ".join(changed))
    left = sorted(set(test_users) & host_users())
    check("no test user in the host's user database (passwd, shadow, group, gshadow)", not left, " ".join(left))
    records = records_naming(test_users)
    check("no test user in the host's utmp, wtmp or btmp", not records, " ".join(records))
    leftover = descendants()
    check("no process left behind", not leftover, "pids %s" % leftover)
    if root:
        check("temporary directory removed", not os.path.exists(root), root)
    if extra_checks:
        extra_checks(check, root)
    print("# %.1f s" % (time.time() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
