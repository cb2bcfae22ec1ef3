#!/usr/bin/env python3
"""Fault injection (make check-faults): pam_totp.so through pam_login and
totp-enroll through a pipe, with faultinject.so (LD_PRELOAD) failing the
1st, 2nd, 3rd, ... call of each kind on the files under test, until the
injection no longer triggers; then a few seeded random runs.

Login (the state is written in place: pwrite, fdatasync; no temp file, no
rename): fails closed. It succeeds only when the state durably records the
code (the newest durable record, what a power loss leaves, blocks its step)
and a replay of the code is refused; a code accepted before the fault stays
refused; every state file parses (tests/lib/state_files.py); nothing is left
in state_dir but u-NAME, t-TOKENID and at most one n-u-NAME; the secret
file never changes. A failure of the charge (the durable write before the
answer is checked) denies without the answer being checked: no failure is
counted, no code used, no login recorded.
Enrollment (--force over an old file): exit 0 with a complete, valid new
file, or exit 1 with an error message, the old file byte-identical and no
temp file left (the editing lock .secret.lock stays, empty and 0600).

The logins run on a simulated clock (TIME_SHIM) pinned inside a time step,
so no test waits for a step boundary.

Environment: TOTP_ENROLL, PAM_TOTP_MODULE, PAM_LOGIN, TIME_SHIM (built
binaries), FAULTINJECT (the built faultinject.so). Runs as root. Ends with
"N passed, M failed".

    run.py [CALL ...]    only the faults of those calls (and the random runs)"""

import os
import stat
import sys
import time
import traceback

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SHIM = os.environ.get("FAULTINJECT", "build/faultinject.so")
# Every file-system call pam_totp.so and totp-enroll make (faultinject.c),
# with the errors a disk, a quota or a signal give.
CALLS = [("open", "EIO"), ("openat", "EIO"), ("openat", "EACCES"), ("openat", "ENOSPC"), ("realpath", "EIO"),
         ("fstat", "EIO"), ("fstatfs", "EIO"), ("faccessat", "EIO"), ("read", "EIO"), ("pread", "EIO"),
         ("pread", "EINTR"), ("mkdirat", "ENOSPC"), ("readlinkat", "EIO"), ("symlinkat", "ENOSPC"),
         ("symlinkat", "EDQUOT"), ("flock", "ENOLCK"), ("flock", "EINTR"), ("ftruncate", "ENOSPC"),
         ("ftruncate", "EFBIG"), ("pwrite", "ENOSPC"), ("pwrite", "EIO"), ("pwrite", "EDQUOT"),
         ("pwrite", "EFBIG"), ("pwrite", "EINTR"), ("fdatasync", "EIO"), ("fdatasync", "ENOSPC"),
         ("fsync", "EIO"), ("write", "ENOSPC"), ("write", "EINTR"), ("rename", "EIO"), ("renameat", "EIO"),
         ("renameat", "EDQUOT"), ("unlinkat", "EIO"), ("fchmod", "EPERM"), ("fchown", "EPERM"),
         ("malloc", "ENOMEM")]
MAX_NTH = 1000    # a safety stop: no run makes this many calls of one kind
RANDOM_RUNS = 15  # seeded FAULT_CALL=any FAULT_NTH=0 runs per tool

injected = 0
glibc_crashes = []  # logins glibc crashed in when its own malloc failed
TALLY = h.Tally()
result = TALLY.result


def fault_env(prefix, log, call, nth, err, seed=0, percent=0):
    env = dict(os.environ)
    env.update({"LD_PRELOAD": os.path.abspath(SHIM), "FAULT_CALL": call, "FAULT_NTH": str(nth),
                "FAULT_ERRNO": err, "FAULT_PATH_PREFIX": prefix, "FAULT_LOG": log,
                "FAULT_SEED": str(seed), "FAULT_PERCENT": str(percent)})
    return env


def faults_logged(log):
    try:
        with open(log) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def fault_lines(log):
    try:
        with open(log) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --- (a) logins ----------------------------------------------------------------


PRELUDES = {
    None: "no state yet",
    "login": "existing state",
    "grow": "state about to grow",
}


def fresh_case(sb, b32, prelude):
    """An empty state_dir, the clock pinned 10 s into a step a few steps
    after the enrollment's (whose code, and every earlier one, the secret
    file refuses), then the prelude: "login", a clean login with the
    previous step's code; "grow", a state that records that code as used
    and that the next charge outgrows (harness.state_about_to_grow).
    Returns (step, the problem with the prelude or None)."""
    h.shutil.rmtree(sb.state_dir, ignore_errors=True)
    step = sb.pin(steps_ahead=3)
    if prelude == "login":
        ok, out = h.login(sb, h.totp(b32, (step - 1) * h.PERIOD))
        if not ok:
            return step, f"the clean login before the fault was refused: {out}"
    elif prelude == "grow":
        h.state_about_to_grow(sb, h.token_id(b32), step * h.PERIOD, int(sb.now()) - 60)
    return step, None


def state_problems(sb, secret_bytes):
    problems = []
    if read_bytes(sb.secret) != secret_bytes:
        problems.append("the secret file changed")
    problems += h.check_state_dir(sb.state_dir)
    return problems


def records_or_problem(sb, problems):
    try:
        return h.records(sb.state)
    except (h.state_files.StateError, UnicodeDecodeError, ValueError) as e:
        problems.append(f"state does not parse: {e}")
        return None, None


def login_case(sb, b32, secret_bytes, log, what, env_args, prelude):
    """One faulted login; returns whether a fault was injected."""
    global injected
    tid = h.token_id(b32)
    existing = prelude is not None
    step, problem = fresh_case(sb, b32, prelude)
    if problem:
        result(False, what, problem)
        return True
    end = (step + 1) * h.PERIOD  # the end of the code's step
    code = h.totp(b32, step * h.PERIOD)
    before = faults_logged(log)
    problems = []
    try:
        ok, out = h.login(sb, code, env=fault_env(sb.data, log, *env_args))
    except AssertionError as e:
        ok, out = False, str(e)
        faults = fault_lines(log)[before:]
        if faults and all(" malloc " in f and f.endswith(" caller=libc.so.6") for f in faults):
            # glibc's own allocation failed and glibc crashed (its NSS code
            # does: nss_database.c, in getpwnam_r): not the module's doing.
            # The state must still be as after any other crash.
            glibc_crashes.append(what)
        else:
            problems.append(f"the faulted login did not end cleanly: {out}")
    hit = faults_logged(log) > before
    injected += 1 if hit else 0
    if not hit and not ok:
        problems.append(f"refused although no fault was injected: {out}")
    problems += state_problems(sb, secret_bytes)
    newest, durable = records_or_problem(sb, problems)
    if existing and h.blocked_until(durable, tid) < step * h.PERIOD:
        problems.append(f"the code accepted before the fault is usable again after a power loss: {durable}")
    if ok:
        if h.blocked_until(newest, tid) < end:
            problems.append(f"login succeeded but the state does not record step {step}: {newest}")
        if h.blocked_until(durable, tid) < end:
            problems.append(f"login succeeded but the durable record does not block step {step}: {durable}")
        again, _ = h.login(sb, code)
        if again:
            problems.append("login succeeded, and the same code was accepted again")
    else:
        # A clean retry may succeed or be refused (the step may be recorded
        # already, or blocked by the fault's unsettled charge); when it
        # succeeds, the state must record the step.
        again, _ = h.login(sb, code)
        if again:
            st, _ = records_or_problem(sb, problems)
            if h.blocked_until(st, tid) < end:
                problems.append("the retry succeeded without recording the step")
    if existing:
        again, _ = h.login(sb, h.totp(b32, (step - 1) * h.PERIOD))
        if again:
            problems.append("the code accepted before the fault was accepted again")
    problems += h.check_state_dir(sb.state_dir)
    result(not problems, what, "; ".join(problems))
    return hit


def grow_self_check(sb, b32):
    """The "state about to grow" prelude does what it says: a clean login
    after it moves the state to larger slots, and leaves no n-u-NAME."""
    step, _ = fresh_case(sb, b32, "grow")
    before = os.path.getsize(sb.state)
    ok, out = h.login(sb, h.totp(b32, step * h.PERIOD))
    after = os.path.getsize(sb.state)
    result(ok and before == 2048 and after > before and not os.path.exists(os.path.join(sb.state_dir, "n-" + os.path.basename(sb.state))),
           "the grow prelude makes the login's charge grow the state",
           f"login {ok} ({out.strip()}), {before} -> {after} bytes, {os.listdir(sb.state_dir)}")


def sweep_logins(sb, b32, log, preludes, label=""):
    secret_bytes = read_bytes(sb.secret)
    for prelude in preludes:
        variant = PRELUDES[prelude] + label
        for call, err in CALLS:
            nth = 1
            while nth <= MAX_NTH:
                what = f"login ({variant}) {call} #{nth} {err}"
                if not login_case(sb, b32, secret_bytes, log, what, (call, nth, err), prelude):
                    break
                nth += 1
            print(f"-- login ({variant}): {call} {err}: {nth - 1} failure points")
    for seed in range(1, RANDOM_RUNS + 1):
        prelude = preludes[seed % len(preludes)]
        login_case(sb, b32, secret_bytes, log, f"login{label} random seed {seed}", ("any", 0, "EIO", seed, 30),
                   prelude)
    print(f"-- login{label}: {RANDOM_RUNS} random runs")


def test_logins():
    with h.Sandbox() as sb:
        b32, _ = h.enroll(sb.secret, ["--recovery-codes", "0"])
        log = os.path.join(sb.root, "faults.log")
        grow_self_check(sb, b32)
        sweep_logins(sb, b32, log, [None, "login", "grow"])
    # secret=DIR/%u: the central file read without looking the account up.
    with h.Sandbox(template=True) as sb:
        b32, _ = h.enroll(sb.secret, ["--recovery-codes", "0"])
        log = os.path.join(sb.root, "faults.log")
        sweep_logins(sb, b32, log, [None, "login"], ", secret=DIR/%u")


def charge_case(sb, b32, secret_bytes, log, call, err, prelude, right):
    """The charge write (the first pwrite, ftruncate or fdatasync of the
    login, all of them part of the durable save before the answer is
    looked at) fails: the login is denied and the answer was not checked,
    so nothing of a checked answer is on disk: no wrong code counted, no
    code used, no login recorded. The charge itself may have reached the
    file (when only its flush failed): the next login counts it then, the
    strict way (records.h)."""
    tid = h.token_id(b32)
    what = f"charge write ({PRELUDES[prelude]}) {call} {err}, {'right' if right else 'wrong'} code"
    step, problem = fresh_case(sb, b32, prelude)
    # The file the charge goes to: the state, or the larger one that replaces it.
    target = (os.path.join(sb.state_dir, "n-" + os.path.basename(sb.state)) if prelude == "grow" else sb.state)
    if problem:
        result(False, what, problem)
        return
    prior = h.records(sb.state)
    code = h.totp(b32, step * h.PERIOD) if right else h.wrong_code(b32, step * h.PERIOD, sb.window)
    before = len(fault_lines(log))
    syslog = os.path.join(sb.root, "syslog")
    if os.path.exists(syslog):
        os.unlink(syslog)
    env = fault_env(sb.data, log, call, 1, err)
    env["FAULT_SYSLOG"] = syslog
    ok, out = h.login(sb, code, env=env)
    hit = fault_lines(log)[before:]
    logged = fault_lines(syslog)
    problems = []
    if len(hit) != 1 or f" {call} #1 " not in hit[0] or not hit[0].endswith(" " + target):
        problems.append(f"the fault did not hit {target}: {hit}")
    if ok:
        problems.append(f"the login succeeded: {out}")
    if "already used" in out or "Too many" in out:
        problems.append(f"the answer was checked: {out}")
    # The module's own account of it: the attempt could not be recorded,
    # so the answer was not looked at (no verdict on it is logged).
    if not any("cannot record the attempt" in line and "the answer was not checked" in line for line in logged):
        problems.append(f"no log line says the answer was not checked: {logged}")
    verdicts = [line for line in logged if any(w in line for w in ("wrong code", "accepted", "already used"))]
    if verdicts:
        problems.append(f"a verdict on the answer was logged: {verdicts}")
    problems += state_problems(sb, secret_bytes)

    def settled(rec):
        """What a checked answer changes: the budget, the last login, the token's used codes."""
        if rec is None:
            return (0, (), 0, None, 0)
        token = rec["tokens"].get(tid)
        return (rec["since_success"], tuple(rec["failures"]), rec["lockouts"], rec["last_login"],
                token["used_until"] if token else 0)

    # Each record left (the newest, and the durable one a power loss would
    # leave) is one of those before the attempt, at most with the charge
    # added: the answer changed nothing.
    allowed = {settled(rec) for rec in prior}
    for name, rec in zip(("newest", "durable"), records_or_problem(sb, problems)):
        if settled(rec) not in allowed:
            problems.append(f"the {name} record changed as if the answer was checked: {rec} (before: {prior})")
    result(not problems, what, "; ".join(problems))


def test_charge_write_fails():
    with h.Sandbox() as sb:
        b32, _ = h.enroll(sb.secret, ["--recovery-codes", "0"])
        secret_bytes = read_bytes(sb.secret)
        log = os.path.join(sb.root, "faults.log")
        # The calls of the durable save before the answer is checked: a new
        # state file is sized first; a grown one is written aside and renamed.
        cases = {None: [("ftruncate", "ENOSPC"), ("pwrite", "ENOSPC"), ("pwrite", "EIO"), ("fdatasync", "EIO")],
                 "login": [("pwrite", "ENOSPC"), ("pwrite", "EIO"), ("fdatasync", "EIO")],
                 "grow": [("ftruncate", "ENOSPC"), ("pwrite", "ENOSPC"), ("fdatasync", "EIO"),
                          ("renameat", "EIO")]}
        for prelude, calls in cases.items():
            for call, err in calls:
                for right in (True, False):
                    charge_case(sb, b32, secret_bytes, log, call, err, prelude, right)
        print("-- charge write failures: denied, nothing of the answer counted")


# --- (b) enrollment ------------------------------------------------------------


def secret_line(data):
    for line in data.decode("ascii", "replace").split("\n"):
        if line.startswith("secret "):
            return line[len("secret "):]
    return None


def enroll_case(sb, log, what, env_args):
    global injected
    old = read_bytes(sb.secret)
    before = faults_logged(log)
    r = h.EnrollRun(["--secret-file", sb.secret, "--force", "--qr", "none", "--recovery-codes", "1",
                     "--issuer", "faults", "--label", "t"], env=fault_env(sb.data, log, *env_args))
    r.answer()
    rc = r.finish()
    hit = faults_logged(log) > before
    injected += 1 if hit else 0
    problems = []
    # The editing lock stays beside the file (empty, 0600, root's); no temp file.
    left = h.leftovers(sb.data, ["secret", ".secret.lock"])
    if left:
        problems.append(f"left behind: {left}")
        for name in left:  # reported once: the next cases are judged on their own
            os.unlink(os.path.join(sb.data, name))
    lock = os.path.join(sb.data, ".secret.lock")
    if os.path.lexists(lock):
        st = os.lstat(lock)
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o600 or st.st_uid != 0 or st.st_size:
            problems.append(f"{lock}: mode {st.st_mode:o}, owner {st.st_uid}, {st.st_size} bytes")
    if rc == 0:
        new = read_bytes(sb.secret)
        ok, msg = h.enroll_status_ok(sb.secret)
        if not ok:
            problems.append(f"exit 0 but the file does not parse: {msg}")
        if new == old or r.uri is None or secret_line(new) != h.secret_of(r.uri):
            problems.append("exit 0 but the file does not hold the new secret")
        if os.stat(sb.secret).st_mode & 0o777 != 0o600:
            problems.append("exit 0 but the file mode is not 0600")
    elif rc == 1:
        if not r.stderr.strip():
            problems.append("exit 1 without an error message")
        if read_bytes(sb.secret) != old:
            problems.append(f"exit 1 but the old file changed (stderr: {r.stderr.strip()})")
        if not hit:
            problems.append(f"exit 1 although no fault was injected: {r.stderr.strip()}")
    else:
        problems.append(f"exit {rc}: {r.stderr.strip()}")
    result(not problems, what, "; ".join(problems))
    return hit


def test_enroll():
    with h.Sandbox() as sb:
        h.enroll(sb.secret, ["--recovery-codes", "1"])
        log = os.path.join(sb.root, "faults.log")
        for call, err in CALLS:
            nth = 1
            while nth <= MAX_NTH:
                if not enroll_case(sb, log, f"enroll {call} #{nth} {err}", (call, nth, err)):
                    break
                nth += 1
            print(f"-- enroll: {call} {err}: {nth - 1} failure points")
        for seed in range(1, RANDOM_RUNS + 1):
            enroll_case(sb, log, f"enroll random seed {seed}", ("any", 0, "EIO", seed, 30))
        print(f"-- enroll: {RANDOM_RUNS} random runs")


def main():
    if os.geteuid() != 0:
        print("tests/faults: must run as root (pam_totp's state_dir is root-owned)")
        return 1
    if sys.argv[1:]:  # run.py CALL...: only those calls (for debugging)
        CALLS[:] = [c for c in CALLS if c[0] in sys.argv[1:]]
    start = time.monotonic()
    for test in (test_charge_write_fails, test_logins, test_enroll):
        try:
            test()
        except Exception:  # a broken harness is a failure, not a crash of the run
            result(False, test.__name__, traceback.format_exc())
    if glibc_crashes:
        print(f"{len(glibc_crashes)} logins crashed inside glibc when its own malloc failed (tolerated; "
              f"the state was checked as after a crash): {', '.join(glibc_crashes)}")
    print(f"{injected} faults injected in {time.monotonic() - start:.0f} s")
    return TALLY.close()


if __name__ == "__main__":
    sys.exit(main())
