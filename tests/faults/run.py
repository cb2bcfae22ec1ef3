#!/usr/bin/env python3
"""Fault injection (make check-faults): pam_totp.so through pam_login and
totp-enroll through a pipe, with faultinject.so (LD_PRELOAD) failing the
1st, 2nd, 3rd, ... call of each kind on the files under test, until the
injection no longer triggers; then a few seeded random runs.

Login: fails closed. It succeeds only when the state file records the step
afterwards (a replay of the code is refused); the state file always parses
(or is absent); no temp file is left; the secret file never changes.
Enrollment (--force over an old file): exit 0 with a complete, valid new
file, or exit 1 with an error message, the old file byte-identical and no
temp file left.

Environment: TOTP_ENROLL, PAM_TOTP_MODULE, PAM_LOGIN (built binaries),
FAULTINJECT (the built faultinject.so). Runs as root. Ends with
"N passed, M failed"."""

import os
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SHIM = os.environ.get("FAULTINJECT", "build/faultinject.so")
CALLS = [("open", "EIO"), ("openat", "EIO"), ("openat", "EACCES"), ("read", "EIO"), ("pread", "EIO"),
         ("pread", "EINTR"), ("write", "ENOSPC"), ("write", "EINTR"), ("fsync", "EIO"), ("rename", "EIO"),
         ("renameat", "EIO"), ("renameat", "EDQUOT"), ("malloc", "ENOMEM")]
MAX_NTH = 1000    # a safety stop: no run makes this many calls of one kind
RANDOM_RUNS = 15  # seeded FAULT_CALL=any FAULT_NTH=0 runs per tool

injected = 0
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


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --- (a) logins ----------------------------------------------------------------


def login_case(sb, b32, secret_bytes, log, what, env_args, existing):
    """One faulted login; returns whether a fault was injected."""
    global injected
    h.wait_for_fresh_step()
    step = int(time.time()) // 30
    h.shutil.rmtree(sb.state_dir, ignore_errors=True)
    if existing:
        ok, out = h.login(sb, h.totp(b32, (step - 1) * 30))
        if not ok:
            result(False, what, f"the clean login before the fault was refused: {out}")
            return True
    code = h.totp(b32, step * 30)
    before = faults_logged(log)
    ok, out = h.login(sb, code, env=fault_env(sb.data, log, *env_args))
    hit = faults_logged(log) > before
    injected += 1 if hit else 0
    problems = []
    if not hit and not ok:
        problems.append(f"refused although no fault was injected: {out}")
    if read_bytes(sb.secret) != secret_bytes:
        problems.append("the secret file changed")
    try:
        state = h.read_state(sb.state)
    except (ValueError, UnicodeDecodeError) as e:
        state = None
        problems.append(f"state file does not parse: {e}")
    left = h.leftovers(sb.state_dir, [os.path.basename(sb.state), os.path.basename(sb.state)[:-len(".state")] + ".lock"])
    if left:
        problems.append(f"left behind in state_dir: {left}")
    if ok:
        if state is None or state.get("last_step", -1) < step:
            problems.append(f"login succeeded but the state does not record step {step}: {state}")
        again, out2 = h.login(sb, code)
        if again:
            problems.append("login succeeded, and the same code was accepted again")
    else:
        # A clean retry may succeed or be refused (the step may be recorded
        # already); when it succeeds, the state must record the step.
        again, out2 = h.login(sb, code)
        if again:
            st = h.read_state(sb.state)
            if st is None or st.get("last_step", -1) < step:
                problems.append("the retry succeeded without recording the step")
    result(not problems, what, "; ".join(problems))
    return hit


def test_logins():
    with h.Sandbox() as sb:
        b32, _ = h.enroll(sb.secret, ["--recovery-codes", "0"])
        secret_bytes = read_bytes(sb.secret)
        log = os.path.join(sb.root, "faults.log")
        for existing in (False, True):
            variant = "existing state" if existing else "no state yet"
            for call, err in CALLS:
                nth = 1
                while nth <= MAX_NTH:
                    what = f"login ({variant}) {call} #{nth} {err}"
                    if not login_case(sb, b32, secret_bytes, log, what, (call, nth, err), existing):
                        break
                    nth += 1
                print(f"-- login ({variant}): {call} {err}: {nth - 1} failure points")
        for seed in range(1, RANDOM_RUNS + 1):
            login_case(sb, b32, secret_bytes, log, f"login random seed {seed}", ("any", 0, "EIO", seed, 30),
                       existing=seed % 2 == 0)
        print(f"-- login: {RANDOM_RUNS} random runs")


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
    left = h.leftovers(sb.data, ["secret"])
    if left:
        problems.append(f"left behind: {left}")
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
    for test in (test_logins, test_enroll):
        try:
            test()
        except Exception:  # a broken harness is a failure, not a crash of the run
            result(False, test.__name__, traceback.format_exc())
    print(f"{injected} faults injected")
    return TALLY.close()


if __name__ == "__main__":
    sys.exit(main())
