#!/usr/bin/env python3
"""Crash safety (make check-crash): SIGKILL pam_totp logins (through
pam_login) and `totp-enroll --new-recovery-codes` runs at a random 0-20 ms
after the start or (for runs slowed by yescrypt) before their normal end,
1000 kills in all, then check that

  - the state file always parses (strict reader of pam_totp-secret(5)) and
    the secret file always parses (totp-enroll --status --json, the real
    parser) with its secret and enrollment id unchanged;
  - no used code becomes usable again: the state records at least the
    highest time step a login reported success for, a replay of that code is
    refused, and so is every recovery code that was reported accepted.

Environment: TOTP_ENROLL, PAM_TOTP_MODULE, PAM_LOGIN. Runs as root, in
about two minutes. Ends with "N passed, M failed"."""

import os
import random
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
import harness as h  # noqa: E402

LOGIN_KILLS = int(os.environ.get("CRASH_LOGIN_KILLS", "600"))
ENROLL_KILLS = int(os.environ.get("CRASH_ENROLL_KILLS", "400"))
MAX_DELAY = 0.020
WINDOW = 10  # max_window: 21 steps usable at any time
RECOVERY_CODES = 5

TALLY = h.Tally()
result = TALLY.result


def killed_run(argv, stdin_text, delay):
    """Starts argv, kills it after `delay` seconds; returns (killed, returncode, stdout)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        p.stdin.write(stdin_text.encode())
        p.stdin.close()
    except BrokenPipeError:
        pass
    time.sleep(delay)
    killed = p.poll() is None
    if killed:
        p.send_signal(signal.SIGKILL)
    out = p.stdout.read().decode(errors="replace")
    p.stdout.close()
    rc = p.wait()
    if rc == -signal.SIGKILL:
        killed = True
    return killed, rc, out


def secret_fields(path):
    with open(path, "rb") as f:
        text = f.read().decode("ascii", "replace")
    return {k: v for k, _, v in (line.partition(" ") for line in text.split("\n"))
            if k in ("secret", "enrollment_id", "algorithm", "digits", "period")}


def check_state(sb, what, min_step, used_ok):
    try:
        st = h.read_state(sb.state)
    except (ValueError, UnicodeDecodeError) as e:
        result(False, what, f"state file does not parse: {e}")
        return
    if min_step is not None and (st is None or st.get("last_step", -1) < min_step):
        result(False, what, f"a login succeeded for step {min_step}, the state has {st and st.get('last_step')}")
        return
    if used_ok > 0 and (st is None or len(st["used"]) < used_ok):
        result(False, what, f"{used_ok} recovery codes were accepted, the state lists fewer")
        return
    result(True, what)


def duration(argv, stdin_text=""):
    """Seconds a complete run of argv takes (the best of three)."""
    best = None
    for _ in range(3):
        t = time.monotonic()
        subprocess.run(argv, input=stdin_text, capture_output=True, text=True)
        best = min(best or 1e9, time.monotonic() - t)
    return best


def kill_delay(rng, full):
    """0-20 ms after the start, or (half the time) 0-20 ms before a complete
    run would end, which is where a slow run (yescrypt) updates its file."""
    if full > MAX_DELAY and rng.random() < 0.5:
        return max(0.0, full - rng.uniform(0, MAX_DELAY))
    return rng.uniform(0, MAX_DELAY)


def phase_logins(sb, b32, codes, rng):
    # A recovery code is checked against every yescrypt hash first: time it
    # (a well-formed wrong code) so that kills also land on its state update.
    recovery_time = duration([h.PAM_LOGIN, sb.conf, "totp", h.USER], "2345-6789-ABCD\n")
    kills = 0
    runs = 0
    best = None            # highest step a login reported success for
    used = set()           # recovery codes reported accepted
    next_step = int(time.time()) // 30 - WINDOW + 1
    argv = [h.PAM_LOGIN, sb.conf, "totp", h.USER]
    while kills < LOGIN_KILLS:
        now_step = int(time.time()) // 30
        next_step = max(next_step, now_step - WINDOW + 1)
        roll = rng.random()
        kind = "step"
        if roll < 0.12 and len(used) < len(codes):
            kind = "recovery"
            code = rng.choice([c for c in codes if c not in used])
        elif roll < 0.30 and used:
            kind = "recovery replay"
            code = rng.choice(sorted(used))
        elif roll < 0.45 and best is not None:
            kind = "step replay"
            step = rng.randint(max(best - 3, now_step - WINDOW + 1), best) if best >= now_step - WINDOW + 1 else best
            code = h.totp(b32, step * 30)
        else:
            step = min(next_step, now_step + WINDOW - 1)
            code = h.totp(b32, step * 30)
            next_step += 1
        full = recovery_time if kind.startswith("recovery") else 0.0
        killed, rc, out = killed_run(argv, code + "\n", kill_delay(rng, full))
        runs += 1
        kills += 1 if killed else 0
        success = not killed and rc == 0 and "PAM result: Success" in out
        if success and kind.endswith("replay"):
            result(False, f"login run {runs}", f"a {kind} was accepted")
        elif success and kind == "recovery":
            used.add(code)
        elif success:
            best = step if best is None else max(best, step)
        if runs % 50 == 0:
            check_state(sb, f"state after {runs} logins", best, len(used))
    check_state(sb, "state after the logins", best, len(used))
    # The replays, once more without a kill.
    if best is not None:
        ok, out = h.login(sb, h.totp(b32, best * 30))
        result(not ok, f"replay of the highest accepted step {best}", out)
    for code in sorted(used):
        ok, out = h.login(sb, code)
        result(not ok, "replay of an accepted recovery code", out)
    print(f"-- logins: {runs} runs, {kills} killed, highest accepted step {best}, "
          f"{len(used)} recovery codes accepted")
    return kills


def phase_enroll(sb, rng):
    before = secret_fields(sb.secret)
    kills = 0
    runs = 0
    bad = 0
    argv = [h.ENROLL, "--secret-file", sb.secret, "--new-recovery-codes", "--recovery-codes", "1"]
    enroll_time = duration(argv)
    while kills < ENROLL_KILLS:
        killed, rc, _ = killed_run(argv, "", kill_delay(rng, enroll_time))
        runs += 1
        kills += 1 if killed else 0
        if not killed and rc != 0:
            result(False, f"enroll run {runs}", f"exit {rc} without a kill")
            bad += 1
        ok, msg = h.enroll_status_ok(sb.secret)
        if not ok or secret_fields(sb.secret) != before:
            result(False, f"secret file after enroll run {runs}",
                   msg if not ok else "the secret or enrollment id changed")
            bad += 1
        if bad > 5:
            break
    if bad == 0:
        result(True, f"secret file parses after each of {runs} enroll runs")
    temps = h.leftovers(sb.data, ["secret", "state"])
    print(f"-- enroll: {runs} runs, {kills} killed, {len(temps)} temp files left by kills (expected)")
    # A complete run afterwards: the new codes work once.
    r = subprocess.run(argv, capture_output=True, text=True)
    codes = h.RECOVERY_RE.findall(r.stdout)
    result(r.returncode == 0 and len(codes) == 1, "a complete --new-recovery-codes run after the kills", r.stderr)
    if codes:
        ok, out = h.login(sb, codes[0])
        result(ok, "a new recovery code after the kills", out)
        ok, out = h.login(sb, codes[0])
        result(not ok, "its replay", out)
    return kills


def main():
    if os.geteuid() != 0:
        print("tests/crash: must run as root")
        return 1
    rng = random.Random(int(os.environ.get("CRASH_SEED", "1")))
    kills = 0
    start = time.time()
    with h.Sandbox(window=WINDOW) as sb:
        # deny=100 within 1 s: the refused replays do not lock the user out.
        service = os.path.join(sb.conf, "totp")
        with open(service) as f:
            line = f.read().strip()
        with open(service, "w") as f:
            f.write(line + " deny=100 fail_interval=1 unlock_time=1 max_unlock_time=1\n")
        try:
            b32, codes = h.enroll(sb.secret, ["--recovery-codes", str(RECOVERY_CODES)])
            kills += phase_logins(sb, b32, codes, rng)
            kills += phase_enroll(sb, rng)
        except Exception:
            result(False, "crash test", traceback.format_exc())
    print(f"{kills} processes killed in {time.time() - start:.0f} s")
    return TALLY.close()


if __name__ == "__main__":
    sys.exit(main())
