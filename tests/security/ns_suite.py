#!/usr/bin/python3
"""The attacks of tests/security, run as the init of the private mount and
PID namespaces that run.py made (`unshare --mount --pid --fork ... python3
ns_suite.py ROOT`). world.py builds the namespace; each test below is one
finding of issue 12 attacked through the real setuid su (util-linux) or
root's totp-enroll.

  finding1_fsize       prlimit --fsize=S:S su (S = 0, 1, around half and all of the
                       state file's size, twice it; SIGXFSZ at its default action):
                       12 wrong codes end in a lockout or are all denied unchecked,
                       and the correct code is then refused
  finding1_signals     SIGKILL, or SIGSTOP then SIGKILL, of su at delays spread over
                       its answer-to-exit time: every answer that reached the module
                       is counted once (state read with tests/lib/state_files.py);
                       one correct code sent again and again is accepted at most once
  finding2_leftovers   50 killed logins under file-size limits (through a slot-file
                       grow): state_dir holds only u-NAME, t-ID and at most n-u-NAME
  finding10_stopped_lock  su SIGSTOPped holding the state's flock: another login is
                       denied within 6 s, and the log says why
  finding5_forward_pass   forward_pass defer stack: wrong passwords never reach the
                       code check, the budget or the lockout message
  finding11_enroll_lock   a user's flocks in a 0755 central directory do not block
                       root's totp-enroll --user --secret-file DIR/%u
  finding8_import_symlink root's --import-google-authenticator through the user's
                       symlink to a root-only file: refused, nothing copied
  finding3_revocation  --new-recovery-codes (or --force) while su's prompt is open:
                       the old recovery code (or TOTP code) is refused

Prints "ok - ..." / "FAIL - ..." lines (counted by run.py) and "# ..."
lines with what was measured. Exits 0 when nothing failed, 1 otherwise.
Every process it started is killed before it exits (orphans come to it,
the namespace's init), also on failure or on SIGINT/SIGTERM/SIGHUP; and
when it dies, the kernel kills whatever is left in its PID namespace.
"""

import os
import signal
import subprocess
import sys
import time

import pexpect

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import state_files  # noqa: E402  (tests/lib: the reader of the module's state files)
import world as W  # noqa: E402
from proc_tree import proc_state, wait_stopped  # noqa: E402
from suite_run import chosen, namespace_init, note, run_tests  # noqa: E402
from world import (ATTACKER, RECOVERY_RE, World, classify, counted, flock_holders, flocks_in,  # noqa: E402
                   module_lines, now_step, oathtool_code, state_dir_leftovers, totp, wrong_code)

PYTHON = "/usr/bin/python3"
DENY = 5                 # the module's default deny
VICTIMS = ["totpv1", "totpv2", "totpv3", "totpv4", "totpv5", "totpv6", "totpv7"]


class Suite:
    def __init__(self, world, results):
        self.w = world
        self.r = results
        self.t_full = 0.05        # measured by finding1_signals
        self.state_dirs = []      # every state directory, for finding 2
        self.leftovers_seen = []  # what finding1_fsize found before each wipe

    # --- helpers --------------------------------------------------------

    def new_state(self, name):
        d = self.w.state_dir(name)
        self.state_dirs.append(d)
        return d

    def killer(self, delay, stop=False, observe=None):
        """An after_answer action: after DELAY seconds the attacker sends
        SIGKILL (or SIGSTOP, then OBSERVE(session) while su is stopped,
        then SIGKILL) to su."""
        w = self.w

        def act(s):
            if delay > 0:
                time.sleep(delay)
            errs = []
            if stop:
                errs.append(w.signals.kill(s.res.pid, signal.SIGSTOP))
                if errs[-1] == 0 and wait_stopped(s.res.pid) and observe:
                    observe(s)
            errs.append(w.signals.kill(s.res.pid, signal.SIGKILL))
            s.res.signal_errors = errs
        return act

    def delay(self, i, n, spread):
        """The I-th of N kill delays from 0 to SPREAD times the unhindered
        answer-to-exit time, denser at the start (the charge comes early)."""
        return self.t_full * spread * (i / (n - 1)) ** 1.5

    def account(self, state_dir, victim):
        return state_files.account_state(state_dir, victim)

    # --- finding 1: file-size limit ---------------------------------------

    def finding1_fsize(self):
        w, r = self.w, self.r
        victim = "totpv1"
        state = self.new_state("fsize")
        secret = w.write_secret(victim)
        w.su_stack("auth requisite pam_unix.so nodelay\n" + w.module_line(state))

        def setup():
            bad, _ = state_dir_leftovers(state)
            self.leftovers_seen.extend("%s (fsize rounds)" % b for b in bad)
            w.wipe(state)
            res = w.su(victim, totp(secret, now_step() - 1))
            return res

        first = setup()
        if not r.check("finding 1 (fsize): a login without limits works (setup)", first.ok, first.describe()):
            return
        # The state file (u-NAME; whatever the module calls it, the largest file there).
        files = [os.path.join(state, n) for n in os.listdir(state)]
        files = [f for f in files if os.path.isfile(f) and not os.path.islink(f)]
        size = max((os.path.getsize(f) for f in files), default=0)
        note("state file after one login: %d bytes (%s)" % (size, " ".join(sorted(os.listdir(state)))))
        sizes = sorted({0, 1, size // 2 - 1, size // 2, size // 2 + 1, size - 1, size, 2 * size})
        xfsz_ignored = set()
        for limit in sizes:
            res = setup()
            if not res.ok:
                r.check("finding 1 (fsize=%d): setup login" % limit, False, res.describe())
                continue
            kinds = []
            sigs = {}
            for i in range(12):
                res = w.su(victim, wrong_code(secret, i), fsize=limit)
                xfsz_ignored.add(res.xfsz_ignored)
                if res.ok:
                    kinds.append("LOGGED-IN")
                elif not res.code_prompt:
                    kinds.append("locked-before-prompt" if res.lock_msg else "no-prompt")
                else:
                    kinds.append(res.kind)
                if res.signalstatus:
                    sigs[res.signalstatus] = sigs.get(res.signalstatus, 0) + 1
            good = totp(secret, now_step() + 1)
            under = w.su(victim, good, fsize=limit)
            unlimited = w.su(victim, good)
            st = self.account(state, victim)
            locked = bool(st and st["locked_until"] > time.time()) or unlimited.lock_msg
            answered = [k for k in kinds if k not in ("locked-before-prompt",)]
            evaluated = sum(1 for k in kinds if k in ("wrong", "accepted", "LOGGED-IN"))
            unchecked = sum(1 for k in kinds if k == "unchecked")
            unknown = sum(1 for k in kinds if k in ("unknown", "no-prompt", "busy"))
            all_unchecked = bool(answered) and all(k == "unchecked" for k in answered)
            detail = ("12 wrong codes: %d evaluated, %d denied unchecked, %d unexplained, %d refused "
                      "before the prompt (lockout); su killed by signal %s; state %s; "
                      "correct code with the limit: %s; without: %s"
                      % (evaluated, unchecked, unknown, kinds.count("locked-before-prompt"),
                         sigs or "never",
                         "locked for %d s" % (st["locked_until"] - time.time()) if locked and st else
                         ("since_success %s" % (st["since_success"] if st else None)),
                         "logged in" if under.ok else "refused",
                         "logged in" if unlimited.ok else
                         ("refused, lockout shown" if unlimited.lock_msg else "refused")))
            note("fsize=%d: %s" % (limit, detail))
            ok_locked = (locked and evaluated <= DENY and not under.ok and not unlimited.ok
                         and unlimited.lock_msg)
            ok_unchecked = all_unchecked and not under.ok
            r.check("finding 1 (prlimit --fsize=%d:%d su): 12 wrong codes end in a lockout (or none "
                    "is evaluated) and the correct code is then refused" % (limit, limit),
                    (ok_locked or ok_unchecked) and "LOGGED-IN" not in kinds,
                    detail + "; kinds " + " ".join(kinds) + "\n  last unlimited: " + unlimited.describe())
        r.check("finding 1 (fsize): su ran with SIGXFSZ at its default action (not ignored)",
                xfsz_ignored - {None} == {False}, "SigIgn said %s" % xfsz_ignored)

    # --- finding 1: SIGKILL / SIGSTOP -------------------------------------

    def finding1_signals(self):
        w, r = self.w, self.r
        victim = "totpv1"
        secret = w.secrets.get(victim) or w.write_secret(victim)
        state = self.new_state("signals")
        # deny=100: no lockout gets in the way of counting (long horizon 200).
        w.su_stack("auth requisite pam_unix.so nodelay\n" + w.module_line(state, "deny=100"))

        # How long su takes from the answer to its exit, unhindered.
        times = []
        for i in range(5):
            res = w.su(victim, wrong_code(secret, 100 + i))
            if res.elapsed is not None and res.kind == "wrong":
                times.append(res.elapsed)
        if not r.check("finding 1 (signals): five unhindered wrong codes evaluated (calibration)",
                       len(times) == 5, "elapsed %s" % times):
            return
        self.t_full = sorted(times)[2]
        note("su from the answer to its exit: %.1f ms (median of 5: %s)"
             % (self.t_full * 1000, " ".join("%.1f" % (t * 1000) for t in times)))

        # Phase A: wrong codes, su killed (or stopped, looked at, killed) at varied delays.
        n = 40
        expected = counted(self.account(state, victim))
        problems = []
        cats = {"before the charge": 0, "charged, not settled": 0, "settled": 0}
        stopped_seen = {"charge": 0, "lock held": 0, "nothing yet": 0}
        perm_errors = 0
        for i in range(n):
            delay = self.delay(i, n, 1.3)
            stop = i % 3 == 2
            before = self.account(state, victim)

            def observe(s, state=state):
                st = self.account(state, victim)
                if st is not None and st["charge"] is not None:
                    stopped_seen["charge"] += 1
                elif s.res.pid in flocks_in(state):
                    stopped_seen["lock held"] += 1
                else:
                    stopped_seen["nothing yet"] += 1

            res = w.su(victim, wrong_code(secret, 200 + i), after_answer=self.killer(delay, stop, observe))
            perm_errors += sum(1 for e in getattr(res, "signal_errors", []) if e == 1)  # EPERM
            after = self.account(state, victim)
            delta = counted(after) - counted(before)
            expected += delta
            if delta == 0:
                cats["before the charge"] += 1
            elif after is not None and after["charge"] is not None:
                cats["charged, not settled"] += 1
            else:
                cats["settled"] += 1
            if delta not in (0, 1):
                problems.append("attempt %d (%.1f ms): counted went %d -> %d"
                                % (i, delay * 1000, counted(before), counted(after)))
            if res.kind in ("wrong", "accepted") and delta != 1:
                problems.append("attempt %d (%.1f ms): evaluated (%s) but not counted (delta %d)"
                                % (i, delay * 1000, module_lines(res.log), delta))
            if res.ok:
                problems.append("attempt %d: a wrong code logged in" % i)
        # One more login settles what the last killed one left.
        final = w.su(victim, wrong_code(secret, 299))
        st = self.account(state, victim)
        expected += 1
        note("phase A, %d killed logins: %s; while stopped: %s"
             % (n, ", ".join("%s %d" % kv for kv in cats.items()),
                ", ".join("%s %d" % kv for kv in stopped_seen.items())))
        note("phase A: wrong codes counted in the state: %s (expected %d), lockouts %s"
             % (st["since_success"] if st else None, expected, st["lockouts"] if st else None))
        r.check("finding 1 (signals): the attacker may signal su (no EPERM)", perm_errors == 0,
                "%d EPERM" % perm_errors)
        r.check("finding 1 (SIGKILL/SIGSTOP+SIGKILL of su after the answer, %d delays 0-%.0f ms): "
                "every answer that could have been evaluated is counted, once"
                % (n, self.t_full * 1300),
                not problems and st is not None and st["charge"] is None and st["lockouts"] == 0
                and st["since_success"] == expected and len(st["failures"]) == expected
                and final.kind == "wrong",
                "; ".join(problems) + "; final state %s; final login %s" % (st, final.describe()))
        r.check("finding 1 (signals): some kills landed after the charge (the test reached the window)",
                cats["charged, not settled"] + stopped_seen["charge"] > 0,
                "categories %s, stopped %s" % (cats, stopped_seen))

        # Phase B: one correct code, su killed at varied delays: accepted at most once.
        w.wipe(state)
        good = totp(secret, now_step() + 1)
        accepted = []
        charged = 0
        m = 16
        for i in range(m):
            before = self.account(state, victim)
            if counted(before) == 0:
                prep = w.su(victim, wrong_code(secret, 300 + i))
                before = self.account(state, victim)
                if counted(before) == 0:
                    r.check("finding 1 (replay): a wrong code before each try is counted", False,
                            prep.describe())
                    return
            delay = self.delay(i, m, 1.5)
            res = w.su(victim, good, after_answer=self.killer(delay, stop=(i % 4 == 3)))
            after = self.account(state, victim)
            success = res.ok or res.kind == "accepted" or (
                after is not None and after["since_success"] == 0 and after["charge"] is None)
            if success:
                accepted.append("try %d (%.1f ms)" % (i, delay * 1000))
            if after is not None and (after["charge"] is not None or counted(after) > counted(before)):
                charged += 1
        last = w.su(victim, good)
        if last.ok or last.kind == "accepted":
            accepted.append("the last, unhindered try")
        note("phase B: one correct code sent %d times with kills, then once more: accepted by %s; "
             "%d tries charged; last try: %s" % (m, accepted or "none", charged, module_lines(last.log)))
        r.check("finding 1 (signals): a correct code, su killed at varied delays, is accepted at most "
                "once and refused afterwards",
                len(accepted) <= 1 and not last.ok and (charged > 0 or accepted),
                "accepted by %s; %d charged; last %s" % (accepted, charged, last.describe()))

    # --- finding 2: no temporary files ------------------------------------

    def finding2_leftovers(self):
        w, r = self.w, self.r
        victim = "totpv2"
        secret = w.write_secret(victim)
        state = self.new_state("leftovers")
        w.su_stack("auth requisite pam_unix.so nodelay\n" + w.module_line(state, "deny=100"))
        # Wrong codes first, until the state's text nearly fills its 1 KiB
        # slot: the killed logins below then make it grow (the one write
        # through a second file, n-u-NAME, renamed over the first).
        ufile = os.path.join(state, "u-" + victim)
        prefill = 0
        while prefill < 60:
            text = state_files.newest_text(ufile) if os.path.exists(ufile) else None
            if text is not None and len(text) >= 1024 - 64 - 3 * 20:
                break
            w.su(victim, wrong_code(secret, 700 + prefill))
            prefill += 1
        size_before = os.path.getsize(ufile) if os.path.exists(ufile) else None
        limits = [None, 0, 1, 1024, 2048]
        n = 50
        perm = 0
        for i in range(n):
            delay = self.delay(i % 10, 10, 1.5)
            res = w.su(victim, wrong_code(secret, 400 + i), fsize=limits[i % len(limits)],
                       after_answer=self.killer(delay))
            perm += sum(1 for e in getattr(res, "signal_errors", []) if e == 1)
        bad, names = state_dir_leftovers(state)
        st = None
        try:
            st = self.account(state, victim)
        except state_files.StateError as e:
            bad.append("unreadable state: %s" % e)
        note("finding 2: %d wrong codes, then %d killed logins (fsize %s): state file %s -> %s bytes; "
             "%d entries in state_dir: %s; wrong codes counted %s"
             % (prefill, n, limits, size_before, os.path.getsize(ufile) if os.path.exists(ufile) else None,
                len(names), " ".join(names), counted(st)))
        r.check("finding 2: after 50 killed logins (prlimit --fsize, SIGKILL) state_dir holds only "
                "u-NAME, t-ID claims and at most one n-u-NAME", not bad and perm == 0,
                "unexpected: %s (all: %s)" % (bad, names))
        every = []
        for d in self.state_dirs:
            b, _ = state_dir_leftovers(d)
            every += ["%s/%s" % (os.path.basename(d), x) for x in b]
        every += self.leftovers_seen
        r.check("finding 2: no temporary file in any state_dir of this run (%d directories, "
                "and before each wipe)" % len(self.state_dirs), not every, " ".join(every))

    # --- finding 10: a stopped login holding the lock ---------------------

    def finding10_stopped_lock(self):
        w, r = self.w, self.r
        victim = "totpv3"
        status, out, secret = w.enroll(["--user", victim, "--secret-file",
                                        os.path.join(w.secret_dir, "%u"), "--qr", "none"])
        if not r.check("finding 10: root enrolls %s in a central file (setup)" % victim,
                       status == 0 and secret, out):
            return
        state = self.new_state("stopped")
        w.su_stack("auth requisite pam_unix.so nodelay\n" + w.module_line(state, "deny=100"))
        first = w.su(victim, wrong_code(secret, 500))
        if not r.check("finding 10: a first wrong code is evaluated and makes the state (setup)",
                       os.listdir(state) and first.kind == "wrong", first.describe()):
            return
        holder = None
        held = []
        tries = []
        for attempt in range(6):
            a = W.SuSession(w, victim)
            if not a.password(w.password):
                tries.append("no code prompt: " + a.finish().describe())
                continue
            # A recovery-code-shaped answer: checked against every hash, under the lock.
            a.answer("ABCD-EFGH-JKM%d" % (attempt + 2))
            deadline = time.monotonic() + 3
            caught = False
            while time.monotonic() < deadline:
                if a.res.pid in flocks_in(state):
                    w.signals.kill(a.res.pid, signal.SIGSTOP)
                    held = flocks_in(state).get(a.res.pid, [])
                    caught = wait_stopped(a.res.pid) and bool(held)
                    break
                if proc_state(a.res.pid) in (None, "Z"):
                    break
                time.sleep(0.0002)
            if caught:
                holder = a
                break
            tries.append("try %d: not caught holding the lock" % attempt)
            w.signals.kill(a.res.pid, signal.SIGKILL)
            a.finish()
        if not r.check("finding 10: the attacker's su SIGSTOPped while it holds the state lock",
                       holder is not None, "; ".join(tries)):
            return
        note("finding 10: su %d stopped holding flock on %s in state_dir (after %d tries)"
             % (holder.res.pid, " ".join(held), len(tries) + 1))
        good = totp(secret, now_step() + 1)
        # Another login of the account (the attacker again, or the victim):
        # timed from the password to su's exit.
        b = W.SuSession(w, victim, timeout=10)
        prompt = False
        t0 = None
        try:
            b.child.expect(W.PASSWORD_PROMPT)
            t0 = time.monotonic()
            b.child.sendline(w.password)
            i = b.child.expect([W.CODE_PROMPT, pexpect.EOF])
            prompt = i == 0
            if prompt:
                b.res.code_prompt = True
                b.answer(good)
        except pexpect.TIMEOUT:
            b.res.timed_out = True
        res = b.finish(timeout=10)
        waited = res.ended - t0 if t0 is not None else None
        lines = module_lines(res.log)
        why = [l for l in lines if "lock" in l and ("denying" in l or "cannot" in l)]
        note("finding 10: the other login, with the correct code, ended %s s after its password: %s"
             % ("%.2f" % waited if waited is not None else "?", lines))
        r.check("finding 10: another login of the account is denied within 6 s, not hung",
                prompt and not res.ok and not res.timed_out and waited is not None and waited <= 6.0,
                res.describe() + "; waited %s s" % ("%.1f" % waited if waited is not None else "?"))
        r.check("finding 10: ... and the log says the state stays locked by another process",
                bool(why), "module log: %s" % lines)
        w.signals.kill(holder.res.pid, signal.SIGKILL)
        holder.finish()
        after = w.su(victim, good)
        r.check("finding 10: once the stopped su is killed, the same (unconsumed) correct code logs in",
                after.ok, after.describe())

    # --- finding 5: forward_pass defer -------------------------------------

    def finding5_forward_pass(self):
        w, r = self.w, self.r
        victim = "totpv4"
        secret = w.write_secret(victim)
        state = self.new_state("defer")
        w.su_stack(w.module_line(state, "forward_pass defer", control="requisite") + "\n"
                   "auth requisite pam_unix.so use_first_pass nodelay\n"
                   + w.module_line(state))
        shown = []
        evaluated = []
        logged_in = []
        for i in range(20):
            res = w.su_forward(victim, "not-" + w.password, wrong_code(secret, 600 + i))
            if res.lock_msg or "lock" in res.out.lower():
                shown.append(i)
            if classify(res.log) in ("wrong", "accepted", "locked"):
                evaluated.append("%d: %s" % (i, module_lines(res.log)))
            if res.ok:
                logged_in.append(i)
        st = self.account(state, victim)
        note("finding 5: 20 wrong passwords with wrong codes: state %s"
             % ("none" if st is None else "since_success %d, lockouts %d, locked_until %d"
                % (st["since_success"], st["lockouts"], st["locked_until"])))
        r.check("finding 5 (su, forward_pass defer): 20 wrong passwords with wrong codes: no code "
                "checked or counted, no lockout",
                not evaluated and not logged_in and (st is None or (counted(st) == 0 and st["lockouts"] == 0
                                                                    and st["locked_until"] == 0)),
                "evaluated %s; logged in %s; state %s" % (evaluated, logged_in, st))
        r.check("finding 5: no lockout message to someone with a wrong password", not shown,
                "shown in attempts %s" % shown)
        good = w.su_forward(victim, w.password, totp(secret, now_step() - 1))
        r.check("finding 5: then the right password and code log in", good.ok, good.describe())
        # Lock the account with the right password, then try a wrong one.
        for i in range(DENY):
            w.su_forward(victim, w.password, wrong_code(secret, 650 + i))
        st = self.account(state, victim)
        locked = st is not None and st["locked_until"] > time.time()
        wrong_pw = w.su_forward(victim, "not-" + w.password, totp(secret, now_step() + 1))
        right_pw = w.su_forward(victim, w.password, totp(secret, now_step() + 1))
        note("finding 5: after %d wrong codes with the right password: locked %s" % (DENY, locked))
        r.check("finding 5: a locked-out account: the lockout is not shown to a wrong password, "
                "and is shown with the right one",
                locked and not wrong_pw.ok and not wrong_pw.lock_msg and "lock" not in wrong_pw.out.lower()
                and right_pw.lock_msg and not right_pw.ok,
                "locked %s; wrong password: %s; right password: %s"
                % (locked, wrong_pw.describe(), right_pw.describe()))

    # --- finding 11: a user's flock on the central directory ---------------

    def finding11_enroll_lock(self):
        w, r = self.w, self.r
        victim = "totpv5"
        central = w.path("central-flock")
        os.mkdir(central, 0o755)
        with open(os.path.join(central, "README"), "w") as f:
            f.write("central pam_totp secrets\n")
        os.chmod(os.path.join(central, "README"), 0o644)
        os.mkdir(os.path.join(central, "old"), 0o755)
        holder_src = (
            "import fcntl, os, sys\n"
            "d = sys.argv[1]\n"
            "held = {}\n"
            "def grab():\n"
            "    for p in [d] + [os.path.join(d, n) for n in sorted(os.listdir(d))]:\n"
            "        if p in held:\n"
            "            continue\n"
            "        try:\n"
            "            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)\n"
            "        except OSError as e:\n"
            "            print('cannot open %s: %s' % (os.path.basename(p), e.strerror)); continue\n"
            "        try:\n"
            "            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); held[p] = fd\n"
            "            print('locked %s' % os.path.basename(p))\n"
            "        except OSError as e:\n"
            "            print('cannot lock %s: %s' % (os.path.basename(p), e.strerror))\n"
            "    print('ready', flush=True)\n"
            "grab()\n"
            "for line in sys.stdin:\n"
            "    grab()\n")
        uid, gid, home = w.ids[ATTACKER]
        holder = subprocess.Popen(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--",
                                   PYTHON, "-c", holder_src, central],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, cwd=home)

        def holder_round():
            lines = []
            for line in holder.stdout:
                if line.strip() == "ready":
                    return lines
                lines.append(line.strip())
            return lines + ["(holder exited)"]

        try:
            got = holder_round()
            note("finding 11: the attacker's flocks: %s" % got)
            r.check("finding 11: the attacker holds flock on the central directory (0755) and what it can open",
                    holder.pid in flock_holders(central) or any(l == "locked central-flock" for l in got),
                    "%s; holders of the directory %s" % (got, flock_holders(central)))
            t0 = time.monotonic()
            status, out, secret = w.enroll(["--user", victim, "--secret-file", os.path.join(central, "%u"),
                                            "--qr", "none"], answer_timeout=8, total_timeout=8)
            took = time.monotonic() - t0
            note("finding 11: totp-enroll --user %s took %.2f s, exit %s" % (victim, took, status))
            r.check("finding 11: root's totp-enroll --user --secret-file DIR/%u completes despite the flocks",
                    status == 0 and os.path.exists(os.path.join(central, victim)),
                    "exit %s after %.1f s; output %r" % (status, took, out[-500:]))
            # Now the attacker tries everything in the directory again
            # (the lock file totp-enroll made included), and root edits again.
            holder.stdin.write("again\n")
            holder.stdin.flush()
            got = holder_round()
            note("finding 11: second round of flocks: %s" % got)
            r.check("finding 11: the attacker cannot open what totp-enroll locks",
                    not any(l.startswith("locked .") or l == "locked " + victim for l in got), str(got))
            t0 = time.monotonic()
            status, out, _ = w.enroll(["--new-recovery-codes", "--user", victim, "--secret-file",
                                       os.path.join(central, "%u")], answer_timeout=8, total_timeout=8)
            took = time.monotonic() - t0
            r.check("finding 11: ... and --new-recovery-codes completes too",
                    status == 0 and len(RECOVERY_RE.findall(out)) == 10,
                    "exit %s after %.1f s; output %r" % (status, took, out[-500:]))
        finally:
            holder.kill()
            holder.wait()
            holder.stdin.close()
            holder.stdout.close()

    # --- finding 8: import through the user's symlink ----------------------

    def finding8_import_symlink(self):
        w, r = self.w, self.r
        victim = "totpv6"
        uid, gid, home = w.ids[victim]
        central = w.path("central-import")
        os.mkdir(central, 0o755)
        with open(os.path.join(w.data, "ga", "totp_basic")) as f:
            ga = f.read()
        ga_secret = ga.splitlines()[0].strip()
        cases = [
            # (name, directory mode, file owner uid): a file root keeps to itself
            ("root-owned file, mode 0600, in a 0755 directory", 0o755, 0),
            ("the victim's own file in a directory only root can enter (0700)", 0o700, uid),
        ]
        for n, (what, dmode, owner) in enumerate(cases):
            d = w.path("rootonly-%d" % n)
            os.mkdir(d, dmode)
            f = os.path.join(d, "google_authenticator")
            with open(f, "w") as out:
                out.write(ga)
            os.chmod(f, 0o600)
            os.chown(f, owner, owner if owner else 0)
            link = os.path.join(home, "link%d" % n)
            os.symlink(d, link)
            os.lchown(link, uid, gid)
            status, out, _ = w.enroll(["--import-google-authenticator", os.path.join(link, "google_authenticator"),
                                       "--user", victim, "--secret-file", os.path.join(central, "%u")])
            copied = []
            for name in os.listdir(central):
                p = os.path.join(central, name)
                if os.path.isfile(p):
                    with open(p) as fh:
                        if ga_secret in fh.read() or name == victim:
                            copied.append(name)
                    if name == victim:
                        os.unlink(p)   # so the next case starts clean
            note("finding 8 (%s): exit %s: %s" % (what, status, out.strip().splitlines()[-1:] if out else ""))
            r.check("finding 8: root's --import-google-authenticator ~%s/link/FILE (%s) is refused, nothing "
                    "copied" % (victim, what), status not in (0, None) and not copied,
                    "exit %s, copied %s, output %r" % (status, copied, out[-400:]))
        # The same file, the victim's own in the home: imported (the refusals above were not for its content).
        own = os.path.join(home, ".google_authenticator")
        with open(own, "w") as out:
            out.write(ga)
        os.chmod(own, 0o600)
        os.chown(own, uid, gid)
        status, out, _ = w.enroll(["--import-google-authenticator", own, "--user", victim,
                                   "--secret-file", os.path.join(central, "%u")])
        r.check("finding 8: control: the victim's own file in the home imports",
                status == 0 and os.path.exists(os.path.join(central, victim)), "exit %s: %r" % (status, out[-400:]))

    # --- finding 3: revocation reaches an open prompt ----------------------

    def finding3_revocation(self):
        w, r = self.w, self.r
        victim = "totpv7"
        status, out, secret = w.enroll(["--user", victim, "--qr", "none"])
        old = RECOVERY_RE.findall(out)
        if not r.check("finding 3: root enrolls %s (~/.pam_totp), 10 recovery codes (setup)" % victim,
                       status == 0 and len(old) == 10, "exit %s: %r" % (status, out[-400:])):
            return
        state = self.new_state("revoke")
        w.su_stack("auth requisite pam_unix.so nodelay\n" + w.module_line(state, secret="~/.pam_totp"))
        first = w.su(victim, old[0])
        r.check("finding 3: an old recovery code logs in before the revocation (control)", first.ok,
                first.describe())
        fresh = {}

        def revoke(_s):
            st, text, _ = w.enroll(["--new-recovery-codes", "--user", victim])
            fresh["status"], fresh["codes"] = st, RECOVERY_RE.findall(text)

        res = w.su(victim, old[1], before_answer=revoke)
        note("finding 3: prompt open, --new-recovery-codes run (exit %s), old code typed: %s"
             % (fresh.get("status"), module_lines(res.log)))
        r.check("finding 3 (su): a recovery code revoked while the prompt was open is refused",
                fresh.get("status") == 0 and res.code_prompt and not res.ok,
                "revocation exit %s; %s" % (fresh.get("status"), res.describe()))
        codes = fresh.get("codes") or []
        if codes:
            res = w.su(victim, codes[0])
            r.check("finding 3: a new recovery code logs in", res.ok, res.describe())
        # The same with a --force re-enrollment and the old secret's TOTP code.
        replaced = {}

        def reenroll(_s):
            st, text, new = w.enroll(["--user", victim, "--force", "--qr", "none"])
            replaced["status"], replaced["secret"] = st, new

        res = w.su(victim, totp(secret, now_step() + 1), before_answer=reenroll)
        note("finding 3: prompt open, --force re-enrollment (exit %s), old secret's code typed: %s"
             % (replaced.get("status"), module_lines(res.log)))
        r.check("finding 3 (su): a TOTP code of an enrollment replaced while the prompt was open is refused",
                replaced.get("status") == 0 and res.code_prompt and not res.ok,
                "re-enrollment exit %s; %s" % (replaced.get("status"), res.describe()))
        if replaced.get("secret"):
            res = w.su(victim, totp(replaced["secret"], now_step() + 1))
            r.check("finding 3: the new enrollment's next code logs in", res.ok, res.describe())


TESTS = ["finding1_fsize", "finding1_signals", "finding2_leftovers", "finding10_stopped_lock",
         "finding5_forward_pass", "finding11_enroll_lock", "finding8_import_symlink", "finding3_revocation"]


def make_world(root):
    return World(root, os.environ["PAM_TOTP_MODULE"], os.environ["TOTP_ENROLL"], os.environ["TESTS_DATA"])


def run(world, results):
    world.build(VICTIMS)
    s = W.new_secret()
    step = now_step()
    results.check("the suite's TOTP matches oathtool", totp(s, step) == oathtool_code(s, step))
    run_tests(Suite(world, results), results, chosen(TESTS, os.environ.get("SECURITY_ONLY", "")))


def main(argv):
    return namespace_init(argv, make_world, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
