#!/usr/bin/env python3
"""Crash safety (make check-crash): SIGKILL pam_totp logins (through
pam_login) and `totp-enroll --new-recovery-codes` runs at a random 0-20 ms
after the start or (for runs slowed by yescrypt) before their normal end,
1000 kills in all, then check that

  - every state file always parses (tests/lib/state_files.py: both slots,
    the text of format 2, the claims) and the secret file always parses
    (totp-enroll --status --json, the real parser) with its secret,
    enrollment id and confirmation step unchanged;
  - no used code becomes usable again: the token's record (the newest and
    the durable one a power loss would leave) blocks at least the highest
    time step a login reported success for, and holds the tag of every
    recovery code reported accepted (recovery_used); a replay of each is
    refused;
  - a login killed after its attempt was charged is counted the strict way
    by the next one (records.h): the charge becomes a wrong code, the token
    refuses every code the attempt could have matched, its recovery code is
    used.

The logins run on a simulated clock (TIME_SHIM): a killed attempt may block
the token for up to (window+1) time steps, and instead of waiting the clock
is moved past the block.

Then the same for an HOTP token (RFC 4226 Appendix D's key): presses in
order, skipped presses within hotp_window, replays and wrong codes, killed
at random. A killed attempt is settled exactly (records.h, pending_hotp):
the counter moves past the code it typed when that code was right, and not
at all when it was wrong, so that kills never make a used code work again
and never push the counter past a code the token has not shown yet (the
next press always works).

Environment: TOTP_ENROLL, PAM_TOTP_MODULE, PAM_LOGIN, TIME_SHIM. Runs as
root, in a minute or two. Ends with "N passed, M failed"."""

import base64
import hashlib
import hmac
import os
import random
import struct
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
import harness as h  # noqa: E402

LOGIN_KILLS = int(os.environ.get("CRASH_LOGIN_KILLS", "600"))
HOTP_KILLS = int(os.environ.get("CRASH_HOTP_KILLS", "200"))
HOTP_WINDOW = 5
HOTP_KEY = b"12345678901234567890"  # RFC 4226 Appendix D
ENROLL_KILLS = int(os.environ.get("CRASH_ENROLL_KILLS", "400"))
MAX_DELAY = 0.020
WINDOW = 10  # max_window: 21 steps usable at any time
RECOVERY_CODES = 5
DENY = 100   # long horizon: 2 * DENY wrong codes since the last success lock
P = h.PERIOD

TALLY = h.Tally()
result = TALLY.result


def killed_run(argv, stdin_text, delay, env=None):
    """Starts argv, kills it after `delay` seconds; returns (killed, returncode, stdout)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        p.stdin.write(stdin_text.encode())
        p.stdin.close()
    except BrokenPipeError:
        pass
    time.sleep(delay)  # the moment of the kill, not a wait for time
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
            if k in ("secret", "enrollment_id", "algorithm", "digits", "period", "confirmed")}


def read_records(sb, what):
    """(newest, durable) records of the account's state; None (reported)
    when the state directory is not as it must be."""
    problems = h.check_state_dir(sb.state_dir)
    if problems:
        result(False, what, "; ".join(problems))
        return None
    return h.records(sb.state)


def check_state(sb, tid, what, best_end, used_tags):
    """Nothing reported used is usable again, in the newest record nor in
    the durable one."""
    recs = read_records(sb, what)
    if recs is None:
        return
    for name, rec in zip(("newest", "durable"), recs):
        if best_end and h.blocked_until(rec, tid) < best_end:
            result(False, what, f"a login succeeded for the step ending at {best_end}; the {name} record "
                                f"blocks only up to {h.blocked_until(rec, tid)}: {rec}")
            return
        missing = used_tags - h.used_tags(rec, tid)
        if missing:
            result(False, what, f"accepted recovery codes not used in the {name} record: {sorted(missing)}")
            return
    result(True, what)


def settle_check(sb, b32, tid, rec, what):
    """`rec` (the newest record after a kill) holds an unsettled charge: the
    next login must count it as a wrong code and settle its pending parts
    the strict way. That login answers with a wrong code (so both count);
    returns the end of the block the settlement leaves."""
    token = rec["tokens"].get(tid) or {"used_until": 0, "pending_until": None, "pending_recovery": None,
                                       "recovery_used": []}
    now = sb.now()
    ok, out = h.login(sb, h.wrong_code(b32, now, WINDOW))
    after, _ = h.records(sb.state)
    problems = []
    if ok:
        problems.append(f"a wrong code was accepted: {out}")
    if after["charge"] is not None:
        problems.append(f"the charge is still there: {after}")
    # The charge counts; so does the wrong code, unless code entry is locked
    # when it comes (then it is refused before being charged, and the
    # module says "try again later"). Settling the dead charge can be what
    # locks it; a lockout the wrong code itself starts is told without it.
    counted = 1 if "try again later" in out else 2
    if rec["lockouts"] == after["lockouts"] and after["since_success"] != rec["since_success"] + counted:
        problems.append(f"since_success {rec['since_success']} -> {after['since_success']}: the killed attempt's charge "
                        f"and the wrong code are not both counted")
    if after["lockouts"] not in (rec["lockouts"], rec["lockouts"] + 1):
        problems.append(f"lockouts {rec['lockouts']} -> {after['lockouts']}")
    new = after["tokens"].get(tid) or {"used_until": 0, "pending_until": None, "pending_recovery": None}
    if token["pending_until"] and new["used_until"] < token["pending_until"]:
        problems.append(f"the killed attempt could use codes up to {token['pending_until']}; the token blocks "
                        f"only up to {new['used_until']}")
    if new["pending_until"] is not None or new["pending_recovery"] is not None:
        problems.append(f"the token still has a pending attempt: {new}")
    if token["pending_recovery"] and token["pending_recovery"] not in h.used_tags(after, tid):
        problems.append(f"the killed attempt's recovery code {token['pending_recovery']} is not used")
    result(not problems, what, "; ".join(problems))
    return max(h.blocked_until(after, tid), token["pending_until"] or 0)


def duration(argv, stdin_text="", env=None):
    """Seconds a complete run of argv takes (the best of three)."""
    best = None
    for _ in range(3):
        t = time.monotonic()
        subprocess.run(argv, input=stdin_text, capture_output=True, text=True, env=env)
        best = min(best or 1e9, time.monotonic() - t)
    return best


def kill_delay(rng, full):
    """0-20 ms after the start, or (half the time) 0-20 ms before a complete
    run would end, which is where a slow run (yescrypt) updates its file."""
    if full > MAX_DELAY and rng.random() < 0.5:
        return max(0.0, full - rng.uniform(0, MAX_DELAY))
    return rng.uniform(0, MAX_DELAY)


def phase_logins(sb, b32, codes, rng):
    tid = h.token_id(b32)
    argv = [h.PAM_LOGIN, sb.conf, "totp", h.USER]
    env = sb.env()
    # A recovery code is checked against every yescrypt hash first: time it
    # (a well-formed wrong code) so that kills also land on its state update.
    recovery_time = duration(argv, "2345-6789-ABCD\n", env)
    kills = charged = runs = 0
    best = None            # highest step a login reported success for
    used = set()           # recovery codes reported accepted
    next_step = sb.pin(steps_ahead=3)
    while kills < LOGIN_KILLS:
        now_step = int(sb.now()) // P
        if next_step > now_step + WINDOW - 1:
            now_step = sb.pin(steps_ahead=next_step - int(time.time()) // P)
        next_step = max(next_step, now_step - WINDOW + 1)
        roll = rng.random()
        kind = "step"
        if roll < 0.12 and len(used) < len(codes):
            kind = "recovery"
            code = rng.choice([c for c in codes if c not in used])
        elif roll < 0.30 and used:
            kind = "recovery replay"
            code = rng.choice(sorted(used))
        elif roll < 0.45 and best is not None and best >= now_step - WINDOW + 1:
            kind = "step replay"
            step = rng.randint(max(best - 3, now_step - WINDOW + 1), best)
            code = h.totp(b32, step * P)
        else:
            step = next_step
            code = h.totp(b32, step * P)
            next_step += 1
        full = recovery_time if kind.startswith("recovery") else 0.0
        killed, rc, out = killed_run(argv, code + "\n", kill_delay(rng, full), env)
        runs += 1
        kills += 1 if killed else 0
        success = not killed and rc == 0 and "PAM result: Success" in out
        if success and kind.endswith("replay"):
            result(False, f"login run {runs}", f"a {kind} was accepted")
        elif success and kind == "recovery":
            used.add(code)
        elif success:
            best = step if best is None else max(best, step)
        if killed:
            recs = read_records(sb, f"state after killed login run {runs}")
            if recs is not None and recs[0] is not None and recs[0]["charge"] is not None:
                charged += 1
                blocked = settle_check(sb, b32, tid, recs[0], f"the charge of killed login run {runs}")
                # The codes the killed attempt could have used stay refused:
                # go on from the first step after the block, on the clock.
                next_step = max(next_step, -(-blocked // P))
        if runs % 50 == 0:
            check_state(sb, tid, f"state after {runs} logins", best and (best + 1) * P,
                        {h.recovery_tag(b32, c) for c in used})
    check_state(sb, tid, "state after the logins", best and (best + 1) * P, {h.recovery_tag(b32, c) for c in used})
    # The replays, once more without a kill.
    if best is not None:
        ok, out = h.login(sb, h.totp(b32, best * P))
        result(not ok, f"replay of the highest accepted step {best}", out)
    for code in sorted(used):
        ok, out = h.login(sb, code)
        result(not ok, "replay of an accepted recovery code", out)
    result(best is not None and charged > 0, "the run saw accepted codes and killed charged attempts",
           f"highest step {best}, {charged} charged attempts killed")
    print(f"-- logins: {runs} runs, {kills} killed ({charged} after their charge, each counted by the next "
          f"login), highest accepted step {best}, {len(used)} recovery codes accepted, "
          f"simulated clock {sb.offset} s ahead")
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
                   msg if not ok else "the secret, enrollment id or confirmation step changed")
            bad += 1
        if bad > 5:
            break
    if bad == 0:
        result(True, f"secret file parses after each of {runs} enroll runs")
    temps = h.leftovers(sb.data, ["secret", ".secret.lock", "state"])
    print(f"-- enroll: {runs} runs, {kills} killed, {len(temps)} temp files left by kills (expected)")
    # A complete run afterwards: the new codes work once (on a clock past
    # any lockout the killed logins' wrong codes left).
    sb.set_offset(sb.offset + 3600)
    r = subprocess.run(argv, capture_output=True, text=True)
    codes = h.RECOVERY_RE.findall(r.stdout)
    result(r.returncode == 0 and len(codes) == 1, "a complete --new-recovery-codes run after the kills", r.stderr)
    if codes:
        ok, out = h.login(sb, codes[0])
        result(ok, "a new recovery code after the kills", out)
        ok, out = h.login(sb, codes[0])
        result(not ok, "its replay", out)
    return kills


def hotp(counter, digits=6):
    """RFC 4226 section 5.3 (HMAC-SHA-1, dynamic truncation)."""
    mac = hmac.new(HOTP_KEY, struct.pack(">Q", counter), "sha1").digest()
    off = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return f"{value:0{digits}d}"


def hotp_tag(code):
    """The tag an unsettled HOTP attempt records (core/otp/hotp.h)."""
    return hmac.new(HOTP_KEY, b"pam_totp hotp attempt v1\0" + code.encode(), hashlib.sha256).hexdigest()[:16]


def wrong_hotp(nxt, rng):
    """A code no counter near `nxt` shows (nor the skips a kill may settle)."""
    near = {hotp(c) for c in range(max(0, nxt - 1), nxt + 2 * HOTP_WINDOW + 2)}
    n = rng.randrange(10 ** 6)
    while f"{n:06d}" in near:
        n = (n + 1) % 10 ** 6
    return f"{n:06d}"


def write_hotp_secret(path):
    """A format-2 secret file (pam_totp-secret(5)) with one HOTP token."""
    now = int(time.time())
    b32 = base64.b32encode(HOTP_KEY).decode().rstrip("=")
    text = (f"version 2\nenrolled {now}\nenrollment_id {os.urandom(16).hex()}\n"
            f"token hw\ntype hotp\nsecret {b32}\nalgorithm sha1\ndigits 6\ncounter 0\nadded {now}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def hotp_next(rec, tid):
    """The next counter the record lets through, with an unsettled attempt
    settled as the next login would (the counter its code matched, + 1)."""
    token = rec["tokens"].get(tid) if rec else None
    if token is None:
        return 0
    start = token["hotp_next"] or 0
    if token["pending_hotp"]:
        tag, last = token["pending_hotp"]
        for c in range(start, last + 1):
            if hotp_tag(hotp(c)) == tag:
                return c + 1
    return start


def phase_hotp(rng):
    kills = charged = runs = 0
    nxt = 0                # the next counter the module should accept
    accepted = []          # counters a login used (reported, or found used after a kill)
    with h.Sandbox(window=1, options=f"deny={DENY} fail_interval=1 unlock_time=1 max_unlock_time=1 "
                                     f"hotp_window={HOTP_WINDOW}") as sb:
        write_hotp_secret(sb.secret)
        tid = h.state_files.token_id(HOTP_KEY)
        argv = [h.PAM_LOGIN, sb.conf, "totp", h.USER]
        env = sb.env()
        # Kills spread over a whole login (a wrong code's: no state moves).
        full = duration(argv, "000000\n", env)
        print(f"-- hotp: a complete login takes {full * 1000:.1f} ms")
        while kills < HOTP_KILLS:
            roll = rng.random()
            if roll < 0.5:
                kind, counter = "press", nxt
            elif roll < 0.65:
                kind, counter = "skip", nxt + rng.randint(1, HOTP_WINDOW)
            elif roll < 0.8 and accepted:
                kind, counter = "replay", rng.choice(accepted)
            else:
                kind, counter = "wrong", None
            code = wrong_hotp(nxt, rng) if counter is None else hotp(counter)
            good = kind in ("press", "skip")
            killed, rc, out = killed_run(argv, code + "\n", rng.uniform(full * 0.4, full * 1.1), env)
            runs += 1
            kills += 1 if killed else 0
            # Each wrong answer is a debt of 2 s in the long limit (1 s per 3
            # codes compared: 6 with hotp_window=5): let the simulated clock pay
            # it back, so that logins are checked rather than refused as locked.
            sb.set_offset(sb.offset + 10)
            success = not killed and rc == 0 and "PAM result: Success" in out
            if success and not good:
                result(False, f"hotp run {runs}", f"a {kind} code was accepted")
                break
            if success:
                accepted.append(counter)
                nxt = counter + 1
            recs = read_records(sb, f"state after hotp run {runs}")
            if recs is None or recs[0] is None:
                continue
            newest, durable = recs
            if killed and newest["charge"] is not None:
                charged += 1
                pending = (newest["tokens"].get(tid) or {}).get("pending_hotp")
                # The next login (a wrong code) settles it.
                ok, _ = h.login(sb, wrong_hotp(nxt, rng))
                after, _ = h.records(sb.state)
                got = (after["tokens"].get(tid) or {}).get("hotp_next") or 0
                want = counter + 1 if good and pending else nxt
                problems = []
                if ok:
                    problems.append("the settling login's wrong code was accepted")
                if after["charge"] is not None or (after["tokens"].get(tid) or {}).get("pending_hotp"):
                    problems.append(f"still unsettled: {after}")
                if got != want:
                    problems.append(f"a killed {kind} code (counter {counter}) left the counter at {got}, not {want}")
                result(not problems, f"the settling of killed hotp run {runs}", "; ".join(problems))
                if problems:
                    break
                if good and pending:
                    accepted.append(counter)
                nxt = got
                continue
            # No charge left: the run ended, or was killed before its charge or
            # after its settling. The counter is where a success leaves it, or
            # where it was.
            got = hotp_next(newest, tid)
            if killed and good and got == counter + 1:
                accepted.append(counter)
                nxt = got
            if got != nxt:
                result(False, f"counter after hotp run {runs} ({kind}, killed={killed})", f"{got}, expected {nxt}")
                break
            if hotp_next(durable, tid) < (max(accepted) + 1 if accepted else 0):
                result(False, f"durable record after hotp run {runs}",
                       f"lets counter {hotp_next(durable, tid)} through; {max(accepted)} was used")
                break
        # Every used code stays refused; the next press still works (on a
        # clock moved past any lockout the wrong codes left).
        sb.set_offset(sb.offset + 3600)
        for c in sorted(set(accepted))[-5:]:
            ok, out = h.login(sb, hotp(c))
            result(not ok, f"replay of the used hotp counter {c}", out)
        sb.set_offset(sb.offset + 3600)
        ok, out = h.login(sb, hotp(nxt))
        result(ok, f"the next press (counter {nxt}) after {kills} kills", out)
        result(charged > 0 and accepted, "the hotp run saw accepted codes and killed charged attempts",
               f"{len(accepted)} accepted, {charged} charged attempts killed")
    print(f"-- hotp logins: {runs} runs, {kills} killed ({charged} after their charge), "
          f"{len(accepted)} codes used, next counter {nxt}")
    return kills


def main():
    if os.geteuid() != 0:
        print("tests/crash: must run as root")
        return 1
    rng = random.Random(int(os.environ.get("CRASH_SEED", "1")))
    kills = 0
    start = time.time()
    # deny=100 within 1 s: the refused replays do not lock the user out.
    with h.Sandbox(window=WINDOW, options=f"deny={DENY} fail_interval=1 unlock_time=1 max_unlock_time=1") as sb:
        try:
            b32, codes = h.enroll(sb.secret, ["--recovery-codes", str(RECOVERY_CODES)])
            kills += phase_logins(sb, b32, codes, rng)
            kills += phase_enroll(sb, rng)
        except Exception:
            result(False, "crash test", traceback.format_exc())
    try:
        kills += phase_hotp(rng)
    except Exception:
        result(False, "crash test (hotp)", traceback.format_exc())
    print(f"{kills} processes killed in {time.time() - start:.0f} s")
    return TALLY.close()


if __name__ == "__main__":
    sys.exit(main())
