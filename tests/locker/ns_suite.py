#!/usr/bin/python3
"""The locker tests (issue 16), run as the init of the private mount and
PID namespaces that run.py made (`unshare --mount --pid --fork ... python3
ns_suite.py ROOT`). locker_world.py builds the namespace; the users log in
as themselves, never as root, through the module's setuid helper
pam_totp_check (a root 4755 copy that exists only in here), with real
codes (the helper is setuid: no simulated clock reaches it).

  pamtester        pamtester as an ordinary user (runuser, setpriv), through the
                   default helper path and through helper=: a code unlocks, the same
                   code again is refused as used, a wrong code is refused
  shared_budget    wrong codes through the helper (as the user) and through a root
                   stack (pam_login as root: the module in-process) count toward one
                   lockout; the lockout is shown on both; totp-admin --reset ends it
  vlock            Debian's vlock on a pty: its setuid vlock-main (PAM as root,
                   in-process) and vlock-main without the setuid bit (PAM as the
                   user: the helper): password and code unlock, a replay does not,
                   also across the two; vlock's attempt for root is refused
  stacks           the pam-auth-update profile's line (nullok: a user who never
                   enrolled unlocks with the password) and the one-prompt stack
                   (forward_pass defer) through the helper
  application      a ctypes PAM application as the user with SIGCHLD ignored, or
                   fds 0-1 or 0-2 closed: the module still gets the helper's result
  other_user       a user can never have another account's code checked (nor a
                   second name of its uid): through pamtester and directly; nothing
                   changes, and the code offered stays unused
  policy           state_dir, secret, deny, window, store... a user chooses are
                   refused unless helper.conf lists them; the user's own options pass;
                   a helper.conf that is not root's alone, or malformed, allows nothing
  hostile          LD_PRELOAD, junk and huge environments, argv, closed and inherited
                   fds, SIGSTOP/SIGKILL mid-check (directly and under pamtester), low
                   rlimits, no_new_privs, a helper that is not setuid, a ~/.pam_totp
                   that is a symlink, FIFO, directory or huge: nothing changes that
                   should not, and no wrong code goes uncounted
  protocol         malformed requests (garbage, lengths, NUL, order, labels, random
                   mutations), an ask never answered, a 'deferred' code: refused or
                   denied, nothing charged that was not checked
  deadline         a helper sent nothing exits by itself after its 30 s wait
  log              every refusal is one LOG_ERR line of pam_totp_check with its reason;
                   no code, secret or password in any log line; a caller's labels
                   cannot forge the line

Prints "ok - ..." / "FAIL - ..." lines (counted by run.py) and "# ..."
lines. Exits 0 when nothing failed, 1 otherwise. Every process it started
is killed before it exits (orphans come to it, the namespace's init).
"""

import contextlib
import ctypes
import ctypes.util
import io
import json
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "security"))
sys.path.insert(0, HERE)
import pexpect  # noqa: E402

import state_files  # noqa: E402
import world as W  # noqa: E402  (tests/security/world.py: users, syslog catcher, codes)
import locker_world as L  # noqa: E402
from helper_client import EXIT_DENIED, EXIT_REFUSED, EXIT_SUCCESS, describe, message, request  # noqa: E402
from locker_world import DEFAULT_STATE, LockerWorld, classify, errors, helper_lines, message_text  # noqa: E402
from proc_tree import wait_stopped  # noqa: E402
from suite_run import chosen, namespace_init, note, run_tests  # noqa: E402

ATTACKER = W.ATTACKER
ALIAS = "totpalias"    # a second passwd name for ATTACKER's uid
VICTIMS = ["totpl%d" % i for i in range(1, 14)]
DENY = 5
IN_MODIFY = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def counted(st):
    return W.counted(st)


def texts(lines):
    return [message_text(l) for l in lines]


class Inotify:
    """IN_MODIFY events of one directory's entries."""

    def __init__(self, directory):
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or _libc.inotify_add_watch(self.fd, directory.encode(), IN_MODIFY) < 0:
            raise OSError(ctypes.get_errno(), "inotify")

    def drain(self):
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 65536):
                pass

    def wait_modify(self, name, timeout):
        """True once NAME was modified (False after TIMEOUT)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            off = 0
            while off + 16 <= len(data):
                _wd, mask, _cookie, length = struct.unpack_from("iIII", data, off)
                entry = data[off + 16:off + 16 + length].rstrip(b"\0").decode()
                off += 16 + length
                if mask & IN_MODIFY and entry == name:
                    return True

    def close(self):
        os.close(self.fd)


def wait_reading(pid, timeout=5.0):
    """Waits until PID sleeps reading its fd 0: in read(2) on it, or in
    select(2)/pselect6(2) on fd 0 alone, as vlock's prompt does
    (/proc/PID/syscall); False after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/syscall" % pid) as f:
                fields = f.read().split()
        except OSError:
            return False
        if fields[:2] in (["0", "0x0"], ["23", "0x1"], ["270", "0x1"]):
            return True
        time.sleep(0.001)
    return False


class Suite:
    def __init__(self, world, results):
        self.w = world
        self.r = results
        self.refusals = []   # (what, log lines) of every refusal the helper should have logged
        self.idle = []       # helpers left waiting for a request (the deadline test)

    # --- helpers --------------------------------------------------------

    def check(self, name, ok, detail=""):
        return self.r.check(name, ok, detail)

    def refused(self, what, status, run, expect_reason=None, state_before=None, state_paths=(),
                exits=(EXIT_REFUSED,)):
        """Checks a direct refusal: exit 4 (or one of EXITS), one LOG_ERR
        line of the helper (naming EXPECT_REASON), nothing written under
        STATE_PATHS."""
        errs = errors(helper_lines(run.log))
        ok = status in [("exit", e) for e in exits] and len(errs) == 1
        if expect_reason and errs:
            ok = ok and re.search(expect_reason, errs[0]) is not None
        changed = []
        if state_before is not None:
            changed = self.w.diff(state_before, self.w.snapshot(*state_paths))
            ok = ok and not changed
        self.refusals.append((what, run.log))
        return self.check("%s: refused (exit %s), one LOG_ERR line%s%s" %
                          (what, " or ".join(map(str, exits)), " saying why" if expect_reason else "",
                           ", nothing written" if state_before is not None else ""), ok,
                          "%s; log %s; changed %s; stderr %r" % (describe(status), texts(run.log), changed,
                                                                  getattr(run, "err_output", b"")))

    def start_idle_helpers(self):
        """Two helpers that get no complete request: each must exit by
        itself after its 30 s wait (collected by deadline())."""
        w = self.w
        silent = w.run_helper(ATTACKER)
        partial = w.run_helper(ATTACKER)
        partial.send(message("hello", "1") + b"user 7\ntot")
        self.idle = [("nothing sent", silent), ("half a request sent", partial)]
        self.idle_mark = w.log.mark()
        for _, run in self.idle:
            # Notes when it ends (poll: waitpid on this pid only).
            run.watcher = threading.Thread(target=run.wait, args=(45,), daemon=True)
            run.watcher.start()

    # --- 1: pamtester as the user ----------------------------------------

    def setup(self):
        """The services every test may use."""
        w = self.w
        w.service("locker-default", w.totp_line())
        w.service("locker-helperopt", w.totp_line("helper=%s" % w.helper))

    def pamtester(self):
        w = self.w
        for user, service, how, what in (
                ("totpl1", "locker-default", "runuser", "runuser -u USER pamtester, default helper path "
                                                         "/usr/sbin/pam_totp_check"),
                ("totpl2", "locker-helperopt", "setpriv", "setpriv pamtester, helper=%s" % w.helper)):
            uid = w.ids[user][0]
            w.enroll_home(user)
            good = w.good_code(user)
            first = w.pamtester(user, service, [good], how=how)
            lines = helper_lines(first.log)
            self.check("pamtester (%s): a correct code unlocks (exit 0), checked by pam_totp_check as uid %d"
                       % (what, uid),
                       first.ok and "successfully authenticated" in first.out
                       and any(re.search(r"\buid %d\b.*user %s: code accepted" % (uid, user), l) for l in lines)
                       and not errors(first.log), first.describe())
            st = w.account(user)
            mode = os.stat(os.path.join(DEFAULT_STATE, "u-" + user))
            self.check("pamtester (%s): the state is root's, in /var/lib/pam_totp (u-%s, owner %d, mode %o)"
                       % (what, user, mode.st_uid, mode.st_mode & 0o7777),
                       st is not None and st["charge"] is None and mode.st_uid == 0 and mode.st_mode & 0o077 == 0,
                       "state %s" % st)
            again = w.pamtester(user, service, [good], how=how)
            self.check("pamtester (%s): the same code again is refused (replay, 'already used')" % what,
                       again.rc == 1 and L.REPLAY_TEXT in again.out
                       and any("replay refused" in l for l in helper_lines(again.log)), again.describe())
            wrong = w.pamtester(user, service, [w.wrong_code(user, 1)], how=how)
            self.check("pamtester (%s): a wrong code is refused" % what,
                       wrong.rc == 1 and "Authentication failure" in wrong.out
                       and any("wrong code" in l for l in helper_lines(wrong.log)), wrong.describe())
            st = w.account(user)
            self.check("pamtester (%s): both refusals counted in the state (2 wrong since the success)" % what,
                       st is not None and st["since_success"] == 2 and st["charge"] is None, "state %s" % st)
            nxt = w.pamtester(user, service, [w.good_code(user)], how=how)
            self.check("pamtester (%s): the next code unlocks and tells of the 2 wrong codes" % what,
                       nxt.ok and "There were 2 wrong codes since your last successful login" in nxt.out,
                       nxt.describe())

    # --- 2: one budget for the helper and root's stack ----------------------

    def shared_budget(self):
        w = self.w
        user = "totpl3"
        opts = "deny=5 unlock_time=600"
        w.helper_conf("# the pam_totp options of /etc/pam.d/locker-budget\n%s\n" % opts)
        try:
            w.service("locker-budget", w.totp_line(opts))
            w.enroll_home(user)
            ok = w.pamtester(user, "locker-budget", [w.good_code(user)])
            if not self.check("shared budget: a first unlock through the helper (setup)", ok.ok, ok.describe()):
                return
            # Two wrong codes each way, then the user's next unlock tells of all four.
            for i in range(2):
                w.pamtester(user, "locker-budget", [w.wrong_code(user, 2 + i)])
                w.root_login("locker-budget", user, [w.wrong_code(user, 4 + i)])
            told = w.pamtester(user, "locker-budget", [w.good_code(user)])
            self.check("shared budget: 2 wrong codes through the helper and 2 through root's stack, interleaved: "
                       "the next unlock (helper) tells of 4 wrong codes",
                       told.ok and "There were 4 wrong codes since your last successful login" in told.out,
                       told.describe())
            w.enroll_home(user)
            seen = []
            for i in range(3):
                res = w.pamtester(user, "locker-budget", [w.wrong_code(user, 10 + i)])
                seen.append((res.rc, res.via_helper, [t for t in texts(res.log) if "wrong code" in t]))
            self.check("shared budget: 3 wrong codes through the helper (pamtester as the user) refused, "
                       "1..3 of 5",
                       all(rc == 1 and via for rc, via, _ in seen)
                       and all(any("(%d of 5 wrong codes" % (i + 1) in t for t in s[2]) for i, s in enumerate(seen)),
                       str(seen))
            r4, r5 = [w.root_login("locker-budget", user, [w.wrong_code(user, 20 + i)]) for i in range(2)]
            self.check("shared budget: wrong codes 4 and 5 through root's stack (pam_login as root, module "
                       "in-process) count on: 4 of 5, then the lockout, shown",
                       r4.rc == 1 and not r4.via_helper and any("(4 of 5 wrong codes" in t for t in texts(r4.log))
                       and r5.rc == 1 and L.LOCK_TEXT in r5.out
                       and any("too many wrong codes: code entry locked" in t for t in texts(r5.log)),
                       "4th: %s\n  5th: %s" % (r4.describe(), r5.describe()))
            st = w.account(user)
            self.check("shared budget: the state holds 5 wrong codes and a lockout",
                       st is not None and st["since_success"] == 5 and st["locked_until"] > time.time()
                       and st["lockouts"] == 1, "state %s" % st)
            good = w.good_code(user)
            as_user = w.pamtester(user, "locker-budget", [good])
            as_root = w.root_login("locker-budget", user, [good])
            self.check("shared budget: locked through the helper too: the correct code is refused, the lockout "
                       "shown, no prompt",
                       as_user.rc == 1 and L.LOCK_TEXT in as_user.out and L.CODE_PROMPT not in as_user.out
                       and as_user.via_helper, as_user.describe())
            self.check("shared budget: and through root's stack",
                       as_root.rc == 1 and L.LOCK_TEXT in as_root.out and L.CODE_PROMPT not in as_root.out,
                       as_root.describe())
            rc, out = w.reset(user)
            after = w.pamtester(user, "locker-budget", [good])
            self.check("shared budget: totp-admin --reset %s ends it; the helper then unlocks with the code "
                       "refused during the lockout" % user, rc == 0 and after.ok,
                       "reset exit %s %r; %s" % (rc, out, after.describe()))
            # The other order: root first, the helper locks.
            for i in range(4):
                w.root_login("locker-budget", user, [w.wrong_code(user, 30 + i)])
            last = w.pamtester(user, "locker-budget", [w.wrong_code(user, 40)])
            st = w.account(user)
            self.check("shared budget: 4 wrong codes as root, the 5th through the helper locks (shown)",
                       last.rc == 1 and L.LOCK_TEXT in last.out and st is not None
                       and st["locked_until"] > time.time(), "%s; state %s" % (last.describe(), st))
            w.reset(user)
        finally:
            w.helper_conf(None)

    # --- 3: vlock ---------------------------------------------------------

    def vlock_attempts(self, child, user, steps):
        """Drives vlock through STEPS [(password or None, code)]; returns
        [(outcome, text shown)]: outcome 'unlocked' (vlock exited 0),
        'refused', 'exit N' or 'timeout'."""
        out = []
        need_banner = True
        for password, code in steps:
            mark = len(child.transcript.getvalue())
            try:
                # vlock prints each prompt, then sets the terminal up (as
                # libpam_misc does, with TCSAFLUSH: what was typed before is
                # dropped): type only once it waits for input on fd 0.
                if need_banner:
                    child.expect_exact("Please press [ENTER] to unlock.")
                wait_reading(child.pid)
                child.sendline("")
                child.expect_exact(user + "'s ")
                if password is not None:
                    child.expect_exact("Password: ")
                    wait_reading(child.pid)
                    child.sendline(password)
                child.expect_exact(L.CODE_PROMPT)
                wait_reading(child.pid)
                child.sendline(code)
                i = child.expect([pexpect.EOF, "Authentication failure"])
                if i == 0:
                    child.wait()
                    outcome = "unlocked" if child.exitstatus == 0 else "exit %s" % child.exitstatus
                else:
                    outcome = "refused"
                    # vlock then offers root's password (or code), then its banner again.
                    j = child.expect([r"root's (Password|Verification code): ", r"Please press \[ENTER\] to unlock\."])
                    if j == 0:
                        wait_reading(child.pid)
                        child.sendline("")
                        need_banner = True
                    else:
                        need_banner = False
            except pexpect.TIMEOUT:
                outcome = "timeout"
            except pexpect.EOF:
                child.wait()
                outcome = "exit %s" % child.exitstatus
            out.append((outcome, child.transcript.getvalue()[mark:]))
            if outcome != "refused":
                break
        return out

    def vlock(self):
        w = self.w
        user = "totpl4"
        uid, gid, home = w.ids[user]
        w.enroll_home(user)
        nosuid = os.path.join(w.suid, "vlock-main-user")
        with open("/usr/sbin/vlock-main", "rb") as src, open(nosuid, "wb") as dst:
            dst.write(src.read())
        os.chmod(nosuid, 0o755)
        unix_then_totp = "auth requisite pam_unix.so nodelay\n" + w.totp_line()
        # (a) vlock as Debian installs it: vlock-main setuid root.
        w.service("vlock", unix_then_totp)
        for variant, spawn_main in (("Debian's setuid-root vlock-main", None), ("vlock-main without the setuid "
                                                                                "bit", nosuid)):
            w.enroll_home(user)   # three fresh steps: the code, the replay's successor
            good = w.good_code(user)
            mark = w.log.mark()
            child = self.spawn_vlock(user, spawn_main)
            try:
                res = self.vlock_attempts(child, user, [(w.password, good)])
            finally:
                w.end(child)
            w.log.flush()
            log = w.log.since(mark)
            via_helper = any(re.search(r"\buid %d\b.*\bvlock\b.*user %s: code accepted" % (uid, user), l)
                             for l in helper_lines(log))
            in_process = any(re.search(r"vlock-main(\[\d+\])?: pam_totp\(vlock:auth\): user %s: code accepted"
                                       % user, l) for l in log)
            note("vlock (%s): the module ran %s" % (variant, "through pam_totp_check (PAM as the user)"
                                                    if via_helper else "in vlock-main (PAM as root)"
                                                    if in_process else "?"))
            self.check("vlock (%s) on a pty as %s: password then code unlock (exit 0)" % (variant, user),
                       [o for o, _ in res] == ["unlocked"], "%s; log %s" % (res, texts(log)))
            if spawn_main is None:
                self.check("vlock (%s): PAM runs as root there (vlock-main keeps euid 0 for pam_authenticate): "
                           "the module checked in-process, without the helper" % variant,
                           in_process and not via_helper, str(texts(log)))
            else:
                self.check("vlock (%s): PAM runs as the user: the code was checked by pam_totp_check" % variant,
                           via_helper and not in_process, str(texts(log)))
            # A replay, a wrong code, then the next code.
            nxt = w.good_code(user)
            mark = w.log.mark()
            child = self.spawn_vlock(user, spawn_main)
            try:
                res = self.vlock_attempts(child, user, [(w.password, good), (w.password, w.wrong_code(user, 50)),
                                                        (w.password, nxt)])
            finally:
                w.end(child)
            w.log.flush()
            log = w.log.since(mark)
            self.check("vlock (%s): the replayed code does not unlock ('already used'), a wrong code does not, "
                       "the next code does" % variant,
                       [o for o, _ in res] == ["refused", "refused", "unlocked"] and L.REPLAY_TEXT in res[0][1],
                       "%s; log %s" % (res, texts(log)))
        # A code used at one is refused at the other: Debian's vlock (root,
        # in-process) then vlock as the user (the helper).
        w.enroll_home(user)
        good = w.good_code(user)
        mark = w.log.mark()
        runs = []
        for main_path, steps in ((None, [(w.password, good)]),
                                 (nosuid, [(w.password, good), (w.password, w.good_code(user))])):
            child = self.spawn_vlock(user, main_path)
            try:
                runs.append(self.vlock_attempts(child, user, steps))
            finally:
                w.end(child)
        w.log.flush()
        log = w.log.since(mark)
        self.check("vlock: a code that unlocked Debian's vlock (in-process, as root) is refused ('already used') "
                   "at vlock run as the user (the helper), whose next code unlocks",
                   [[o for o, _ in r] for r in runs] == [["unlocked"], ["refused", "unlocked"]]
                   and L.REPLAY_TEXT in runs[1][0][1]
                   and any("replay refused" in l for l in helper_lines(log)), "%s; log %s" % (runs, texts(log)))
        # (b) only the pam_totp line, vlock-main without the setuid bit:
        # vlock's "root's" attempt then reaches the helper for root, which refuses.
        w.service("vlock", w.totp_line())
        mark = w.log.mark()
        child = self.spawn_vlock(user, nosuid)
        try:
            res = self.vlock_attempts(child, user, [(None, w.wrong_code(user, 51)), (None, w.good_code(user))])
        finally:
            w.end(child)
        w.log.flush()
        log = w.log.since(mark)
        root_refusal = [l for l in errors(helper_lines(log)) if "asked to check user root" in l]
        self.check("vlock (only the pam_totp line, as the user): a wrong code is refused, then a code unlocks",
                   [o for o, _ in res] == ["refused", "unlocked"], "%s; log %s" % (res, texts(log)))
        self.check("vlock: its attempt for root (after the failure) is refused by pam_totp_check (not the "
                   "caller's uid), with one LOG_ERR line",
                   len(root_refusal) == 1, str(texts(log)))

    def spawn_vlock(self, user, vlock_main=None):
        """vlock -c as USER on a pty; with VLOCK_MAIN, that file is bind-mounted
        over /usr/sbin/vlock-main in a mount namespace of its own first."""
        w = self.w
        uid, gid, home = w.ids[user]
        env = dict(L.ENV, HOME=home, USER=user, LOGNAME=user, TERM="vt100")
        run_as = "setpriv --reuid=%d --regid=%d --init-groups -- vlock -c" % (uid, gid)
        if vlock_main:
            argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                    "mount --bind %s /usr/sbin/vlock-main && exec %s" % (vlock_main, run_as)]
        else:
            argv = run_as.split()
        child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=home, encoding="utf-8", codec_errors="replace",
                              timeout=10, preexec_fn=W._default_signals)
        child.delaybeforesend = None
        child.delayafterclose = 0
        child.delayafterterminate = 0
        child.ptyproc.delayafterclose = 0
        child.ptyproc.delayafterterminate = 0
        child.transcript = io.StringIO()
        child.logfile_read = child.transcript
        return child

    # --- the packaged stacks, as the user -----------------------------------

    def stacks(self):
        """The pam-auth-update profile's line (nullok, after pam_unix) and the
        one-prompt stack for i3lock/swaylock (forward_pass defer), both run
        by pamtester as the user, through the helper."""
        w = self.w
        enrolled, never = "totpl11", "totpl13"
        w.enroll_home(enrolled)
        w.service("locker-profile", "auth requisite pam_unix.so nodelay\n" + w.totp_line("nullok"))
        before = w.snapshot(DEFAULT_STATE)
        res = w.pamtester(never, "locker-profile", [w.password])
        self.check("stacks (profile: pam_unix, pam_totp nullok): a user who never enrolled unlocks with the "
                   "password alone (the helper says ignore), nothing written",
                   res.ok and L.CODE_PROMPT not in res.out and before == w.snapshot(DEFAULT_STATE)
                   and not errors(res.log), res.describe())
        res = w.pamtester(enrolled, "locker-profile", [w.password, w.good_code(enrolled)])
        self.check("stacks (profile): an enrolled user: password and code unlock through the helper",
                   res.ok and res.via_helper, res.describe())
        res = w.pamtester(enrolled, "locker-profile", [w.password, w.wrong_code(enrolled, 150)])
        self.check("stacks (profile): an enrolled user with a wrong code is refused", res.rc == 1, res.describe())
        w.service("locker-oneprompt",
                  w.totp_line("forward_pass defer", control="requisite") + "\n"
                  "auth requisite pam_unix.so use_first_pass nodelay\n" + w.totp_line())
        good = w.good_code(enrolled)
        before = w.account(enrolled)
        res = w.pamtester(enrolled, "locker-oneprompt", ["not-" + w.password + good])
        after = w.account(enrolled)
        self.check("stacks (one prompt, forward_pass defer): a wrong password with the right code: refused, the "
                   "code neither checked nor counted",
                   res.rc == 1 and counted(after) == counted(before) and "Password & verification code: " in res.out
                   and not any("code accepted" in t or "wrong code" in t for t in texts(res.log)), res.describe())
        res = w.pamtester(enrolled, "locker-oneprompt", [w.password + good])
        self.check("stacks (one prompt): the right password and that same code unlock (the password handed "
                   "back by the helper reached pam_unix, the kept code the check line)",
                   res.ok and any("code accepted" in l for l in helper_lines(res.log)), res.describe())
        before = w.account(enrolled)
        res = w.pamtester(enrolled, "locker-oneprompt", [w.password + w.wrong_code(enrolled, 151)])
        after = w.account(enrolled)
        self.check("stacks (one prompt): the right password with a wrong code: refused and counted once",
                   res.rc == 1 and counted(after) == counted(before) + 1, "%s; counted %d -> %d"
                   % (res.describe(), counted(before), counted(after)))

    # --- the module inside a locker-like application -------------------------

    def application(self):
        """A PAM application (tests/locker/pam_app.py, ctypes on libpam) run
        as the user, in the states lockers are found in."""
        w = self.w
        user = "totpl11"
        uid, gid, home = w.ids[user]
        if user not in w.secrets:
            w.enroll_home(user)

        result = os.path.join(home, "pam_app.json")

        def app(opts, answers):
            mark = w.log.mark()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(result)
            p = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--init-groups", "--",
                                "/usr/bin/python3", os.path.join(HERE, "pam_app.py")] + opts
                               + ["--result", result, "locker-default", user] + answers,
                               capture_output=True, text=True, env=dict(L.ENV, HOME=home), cwd=home, timeout=20,
                               preexec_fn=W._default_signals)
            w.log.flush()
            try:
                with open(result) as f:
                    out = json.load(f)
            except (OSError, ValueError):
                out = {"rc": None, "stderr": p.stderr}
            out["exit"] = p.returncode
            return out, w.log.since(mark)

        for opts, what in ((["--sigchld", "ignore"], "SIGCHLD ignored (children reaped by the kernel)"),
                           (["--close", "0,1"], "fds 0 and 1 closed"),
                           (["--close", "0,1,2"], "fds 0, 1 and 2 closed")):
            good, wrong = w.good_code(user), w.wrong_code(user, 160)
            ok, log_ok = app(opts, [good])
            bad, log_bad = app(opts, [wrong])
            self.check("application (%s): the correct code succeeds through the helper, a wrong one is refused"
                       % what, ok["rc"] == 0 and any("code accepted" in l for l in helper_lines(log_ok))
                       and bad["rc"] not in (0, None) and any("wrong code" in l for l in helper_lines(log_bad)),
                       "correct: %s %s; wrong: %s %s" % (ok, texts(log_ok), bad, texts(log_bad)))

    # --- 4: another user's account ----------------------------------------

    def other_user(self):
        w = self.w
        victim = "totpl5"
        w.enroll_home(victim)
        first = w.root_login("locker-default", victim, [w.good_code(victim)])
        if not self.check("other user: %s logs in once (setup: a state to protect)" % victim, first.ok,
                          first.describe()):
            return
        paths = [DEFAULT_STATE, w.ids[victim][2]]
        before = w.snapshot(*paths)
        code = w.good_code(victim)      # the attacker knows the victim's current code
        res = w.pamtester(ATTACKER, "locker-default", [code], target=victim)
        helper_errs = [l for l in errors(helper_lines(res.log)) if "asked to check user %s" % victim in l]
        module_errs = [l for l in errors(L.module_lines(res.log)) if "refused the request" in l]
        self.check("other user: %s running pamtester for %s (with %s's current code) is denied"
                   % (ATTACKER, victim, victim),
                   res.rc == 1 and L.CODE_PROMPT not in res.out and "successfully" not in res.out, res.describe())
        self.check("other user: pam_totp_check logged the refusal (one LOG_ERR line), the module said so too",
                   len(helper_errs) == 1 and len(module_errs) == 1, texts(res.log))
        self.refusals.append(("pamtester for another user", res.log))
        after = w.snapshot(*paths)
        self.check("other user: %s's state and home unchanged" % victim, before == after, str(w.diff(before, after)))
        for target, what in ((victim, "another user"), ("root", "root"), (str(w.ids[ATTACKER][0]),
                                                                           "its own uid as a name"),
                             (ATTACKER.upper(), "its own name in capitals"), ("nosuchuser", "no such user")):
            before = w.snapshot(*paths)
            status, run = w.direct(ATTACKER, target, [code])
            self.refused("other user: %s's direct request for %s (%s)" % (ATTACKER, target, what), status, run,
                         expect_reason=r"asked to check user|cannot look user", state_before=before,
                         state_paths=paths)
            self.check("other user: no question was asked (%s)" % what,
                       not any(n.startswith("ask") for n, _ in run.received), str(run.received))
        # A second name for the attacker's own uid (listed after it): its
        # own secret and budget, so not the caller's account either, as
        # unix_chkpwd has it (the name must be getpwuid(getuid())'s).
        uid, gid, home = w.ids[ATTACKER]
        alias_home = w.path("home", ALIAS)
        os.mkdir(alias_home, 0o755)
        os.chown(alias_home, uid, gid)
        with open("/etc/passwd", "a") as f:
            f.write("%s:x:%d:%d:second name of %s:%s:/bin/sh\n" % (ALIAS, uid, gid, ATTACKER, alias_home))
        w.ids[ALIAS] = (uid, gid, alias_home)
        w.enroll_home(ALIAS)
        paths = [DEFAULT_STATE, alias_home]
        before = w.snapshot(*paths)
        status, run = w.direct(ATTACKER, ALIAS, [w.good_code(ALIAS)])
        self.refused("other user: %s's direct request for %s, a second name of its own uid" % (ATTACKER, ALIAS),
                     status, run, expect_reason=r"asked to check user|not the name of", state_before=before,
                     state_paths=paths)
        own = w.pamtester(victim, "locker-default", [code])
        self.check("other user: the code %s tried is not used up: %s unlocks with it" % (ATTACKER, victim),
                   own.ok, own.describe())

    # --- 5: options the user cannot choose ----------------------------------

    def policy(self):
        w = self.w
        user = "totpl6"
        uid, gid, home = w.ids[user]
        w.enroll_home(user)
        # Files the user made: a secret it knows, a state directory, a store configuration.
        fake_key = W.new_secret()
        fake = os.path.join(home, "fake")
        with open(fake, "w") as f:
            f.write("version 1\nsecret %s\nalgorithm sha1\ndigits 6\nperiod 30\nenrolled %d\n"
                    "enrollment_id %s\n" % (fake_key, int(time.time()) - 3600, os.urandom(16).hex()))
        w.sent.add(fake_key)
        evil_state = os.path.join(home, "evilstate")
        os.mkdir(evil_state, 0o700)
        store_conf = os.path.join(home, "store.conf")
        with open(store_conf, "w") as f:
            f.write("conninfo host=/nonexistent dbname=x user=x\n")
        for p in (fake, evil_state, store_conf):
            os.chown(p, uid, gid)
            os.chmod(p, 0o600 if p != evil_state else 0o700)
        tmp_target = w.path("tmp-target")      # a path under /tmp nobody made
        paths = [DEFAULT_STATE, home, "/etc/pam_totp"]
        ok = w.direct(user, user, [w.good_code(user)])
        code = w.good_code(user)   # offered to every refused request below: none may use it up
        self.check("policy: no helper.conf: the default options pass (control)", ok[0] == ("exit", 0),
                   "%s; %s" % (describe(ok[0]), texts(ok[1].log)))
        bad = [("state_dir in the user's home", ["state_dir=" + evil_state]),
               ("state_dir under /tmp", ["state_dir=" + tmp_target]),
               ("secret= a file the user made", ["secret=" + fake]),
               ("secret= another template", ["secret=%h/.pam_totp2"]),
               ("deny=100", ["deny=100"]),
               ("window=10", ["window=10"]),
               ("fail_interval=1", ["fail_interval=1"]),
               ("unlock_time=1", ["unlock_time=1"]),
               ("max_unlock_time=3600", ["max_unlock_time=3600"]),
               ("no_recovery", ["no_recovery"]),
               ("store=postgresql with a store_config the user made",
                ["store=postgresql", "store_config=" + store_conf]),
               ("store_config alone", ["store_config=" + store_conf])]
        for what, args in bad:
            before = w.snapshot(*paths)
            answer = W.totp(fake_key, W.now_step()) if "fake" in what else code
            status, run = w.direct(user, user, [answer], args=args)
            self.refused("policy: %s" % what, status, run, expect_reason=r"not among those /etc/pam_totp/helper.conf",
                         state_before=before, state_paths=paths)
        self.check("policy: nothing made under /tmp", not os.path.lexists(tmp_target), tmp_target)
        # Options that are the caller's own.
        prompt = "Code for the locker: "
        status, run = w.direct(user, user, [code],
                               args=["prompt=" + prompt, "echo_code", "debug", "nullok", "helper=" + w.helper])
        asks = [(n, v.decode()) for n, v in run.received if n.startswith("ask")]
        self.check("policy: prompt=, echo_code, debug, nullok, helper= are the caller's: accepted, and the ask "
                   "uses them", status == ("exit", 0) and asks == [("ask_echo", prompt)],
                   "%s; asks %s; log %s" % (describe(status), asks, texts(run.log)))
        # helper.conf lists other options: those pass, the defaults no longer.
        w.helper_conf("# lockers: pam_totp deny=3 window=2\n\ndeny=3 window=2\n")
        try:
            w.enroll_home(user)   # a new token: the step two back is unused
            old = W.totp(w.secrets[user], W.now_step() - 2)
            w.sent.add(old)
            code = w.good_code(user)
            status, run = w.direct(user, user, [old], args=["window=2", "deny=3"])
            self.check("policy: helper.conf 'deny=3 window=2': those options pass (any order), and window=2 "
                       "applies (a code two steps old unlocks)", status == ("exit", 0),
                       "%s; %s" % (describe(status), texts(run.log)))
            for what, args in (("the defaults", []), ("deny=3 alone", ["deny=3"]),
                               ("deny=3 window=2 state_dir=...", ["deny=3", "window=2", "state_dir=" + evil_state])):
                before = w.snapshot(*paths)
                status, run = w.direct(user, user, [code], args=args)
                self.refused("policy: with helper.conf, %s" % what, status, run,
                             expect_reason=r"not among those", state_before=before, state_paths=paths)
            # helper.conf itself must be root's and not writable by others.
            for what, fix in (("writable by others", lambda: os.chmod(L.HELPER_CONF, 0o666)),
                              ("owned by the user", lambda: os.chown(L.HELPER_CONF, uid, gid)),
                              ("malformed (an unclosed '[')",
                               lambda: w.helper_conf("deny=3 window=2\n[prompt=Code: \n")),
                              ("with a second line keeping the state elsewhere",
                               lambda: w.helper_conf("deny=3 window=2\n"
                                                     "state_dir=/var/lib/pam_totp2 deny=3 window=2\n"))):
                w.helper_conf("deny=3 window=2\n")
                fix()
                before = w.snapshot(*paths)
                status, run = w.direct(user, user, [code], args=["deny=3", "window=2"])
                self.refused("policy: helper.conf %s: nothing is allowed" % what, status, run,
                             expect_reason=r"helper\.conf", state_before=before, state_paths=paths)
        finally:
            w.helper_conf(None)
        status, run = w.direct(user, user, [code])
        self.check("policy: helper.conf removed: the defaults pass again, with the code offered to every "
                   "refused request (none used it up)", status == ("exit", 0),
                   "%s; %s" % (describe(status), texts(run.log)))
        self.check("policy: nothing in the user's state directory or at the secret it made was used",
                   os.listdir(evil_state) == [], str(os.listdir(evil_state)))

    # --- 6: hostile callers -----------------------------------------------

    def login_counts(self, user, label, status, run, before, allow_success=False):
        """After one wrong code: evaluated at most once, never a success."""
        after = self.w.account(user)
        delta = counted(after) - counted(before)
        kind = classify(helper_lines(run.log))
        ok = status != ("exit", EXIT_SUCCESS) or allow_success
        ok = ok and delta in (0, 1) and (kind != "wrong" or delta == 1)
        return self.check("hostile (%s): a wrong code is denied and counted at most once, once if it was "
                          "checked" % label, ok,
                          "%s; counted %d -> %d; log %s" % (describe(status), counted(before), counted(after),
                                                            texts(run.log)))

    def hostile(self):
        self.hostile_environment()
        self.hostile_fds()
        self.hostile_signals()
        self.hostile_limits()
        self.hostile_privilege()
        self.hostile_secret_files()

    def hostile_secret_files(self):
        """~/.pam_totp is the user's to make: whatever it is, the setuid
        helper (which reads it with the user's identity) denies at once."""
        w = self.w
        user = "totpl12"
        victim = "totpl5"
        uid, gid, home = w.ids[user]
        if victim not in w.secrets:
            w.enroll_home(victim)
        secret = os.path.join(home, ".pam_totp")
        def symlink(target):
            return lambda: os.symlink(target, secret)

        def sparse():
            with open(secret, "wb") as f:
                f.truncate(100 << 20)
            os.chmod(secret, 0o600)

        cases = [("a symlink to another user's secret file (0600)",
                  symlink(os.path.join(w.ids[victim][2], ".pam_totp")), W.totp(w.secrets[victim], W.now_step())),
                 ("a symlink to /etc/shadow", symlink("/etc/shadow"), "123456"),
                 ("a symlink to /dev/zero", symlink("/dev/zero"), "123456"),
                 ("a symlink loop", symlink(secret), "123456"),
                 ("a FIFO", lambda: os.mkfifo(secret, 0o600), "123456"),
                 ("a sparse 100 MB file", sparse, "123456"),
                 ("a directory", lambda: os.mkdir(secret, 0o700), "123456")]
        paths = [DEFAULT_STATE, w.ids[victim][2]]
        for what, make, answer in cases:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(secret)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.rmdir(secret)
            make()
            os.lchown(secret, uid, gid)
            before = w.snapshot(*paths)
            t0 = time.monotonic()
            status, run = w.direct(user, user, [answer], timeout=8)
            took = time.monotonic() - t0
            refusal = [l for l in errors(helper_lines(run.log)) if "secret file" in l]
            note("~/.pam_totp is %s: %s" % (what, texts(refusal)))
            self.check("hostile (~/.pam_totp is %s): denied within %.1f s, LOG_ERR 'refusing secret file', "
                       "nothing written" % (what, took),
                       status == ("exit", EXIT_DENIED) and took < 5 and len(refusal) == 1
                       and before == w.snapshot(*paths),
                       "%s; log %s; changed %s" % (describe(status), texts(run.log),
                                                   w.diff(before, w.snapshot(*paths))))
        os.rmdir(secret)
        w.enroll_home(user)
        status, run = w.direct(user, user, [w.good_code(user)])
        self.check("hostile (secret files): with a real ~/.pam_totp again, a code unlocks", status == ("exit", 0),
                   "%s; %s" % (describe(status), texts(run.log)))

    def hostile_environment(self):
        w = self.w
        user = "totpl7"
        uid, gid, home = w.ids[user]
        w.enroll_home(user)
        w.direct(user, user, [w.good_code(user)])
        lib = w.path("lib")
        markers = w.path("markers")
        os.mkdir(lib, 0o755)
        os.mkdir(markers)
        os.chmod(markers, 0o1777)
        so = os.path.join(lib, "preload_marker.so")
        cc = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-DMARKER_DIR=\"%s\"" % markers, "-o", so,
                             os.path.join(HERE, "preload_marker.c")], capture_output=True, text=True)
        if not self.check("hostile: the LD_PRELOAD library builds", cc.returncode == 0, cc.stderr):
            return
        preload_env = {"LD_PRELOAD": so, "LD_LIBRARY_PATH": lib, "LD_AUDIT": so}
        # Control: a copy of the helper without the setuid bit does load it.
        status, run = w.direct(user, user, [w.wrong_code(user, 60)], helper=os.path.join(w.suid, "plain_check"),
                               env=dict(preload_env))
        loaded = os.listdir(markers)
        self.check("hostile (LD_PRELOAD): control: a helper copy that is not setuid loads the library, which "
                   "ends it with status 0", status == ("exit", 0) and len(loaded) == 1,
                   "%s; markers %s" % (describe(status), loaded))
        for name in loaded:
            os.unlink(os.path.join(markers, name))
        before = w.account(user)
        status, run = w.direct(user, user, [w.wrong_code(user, 61)], env=dict(preload_env))
        self.check("hostile (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT): the setuid helper does not load the library",
                   not os.listdir(markers) and status == ("exit", EXIT_DENIED), "%s; markers %s"
                   % (describe(status), os.listdir(markers)))
        self.login_counts(user, "LD_PRELOAD", status, run, before)
        res = w.pamtester(user, "locker-default", [w.wrong_code(user, 62)], env={"LD_PRELOAD": so})
        self.check("hostile (LD_PRELOAD): pamtester with the library preloaded: denied, the helper did not "
                   "load it", res.rc == 1 and not os.listdir(markers) and res.via_helper, res.describe())
        status, run = w.direct(user, user, [w.good_code(user)], env=dict(preload_env))
        self.check("hostile (LD_PRELOAD): the correct code still unlocks (a real check)",
                   status == ("exit", 0) and not os.listdir(markers)
                   and any("code accepted" in l for l in helper_lines(run.log)), texts(run.log))
        # Junk in the variables libc, libpq and NSS read.
        os.mkdir(os.path.join(home, "bin"))
        with open(os.path.join(home, "zone"), "w") as f:
            f.write("not a zone file\n")
        junk = {"PATH": os.path.join(home, "bin") + ":.", "IFS": "/ \t", "PGHOST": "/nonexistent/pg",
                "PGPASSFILE": os.path.join(home, "pgpass"), "PGSERVICEFILE": os.path.join(home, "pgsvc"),
                "TZ": ":" + os.path.join(home, "zone"), "TZDIR": home, "LOCALDOMAIN": "evil.invalid",
                "LOCALDIR": home, "NLSPATH": home + "/%N", "GCONV_PATH": home, "LANG": "xx_XX.UTF-8",
                "LC_ALL": "../../../" + home, "HOSTALIASES": os.path.join(home, "hosts"), "RES_OPTIONS": "debug",
                "MALLOC_CHECK_": "3", "MALLOC_PERTURB_": "165", "GLIBC_TUNABLES": "glibc.malloc.check=3",
                "LD_DEBUG": "all", "LD_DEBUG_OUTPUT": os.path.join(home, "lddebug"), "LD_SHOW_AUXV": "1",
                "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/false", "TMPDIR": home,
                "SYSTEMD_LOG_LEVEL": "debug", "NSS_DEBUG": "1"}
        good = w.good_code(user)
        before_home = w.snapshot(home)
        before = w.account(user)
        status, run = w.direct(user, user, [w.wrong_code(user, 63)], env=dict(junk))
        self.login_counts(user, "junk PATH, IFS, PG*, TZ, LOCALDIR, locale, malloc, LD_DEBUG", status, run, before)
        status, run = w.direct(user, user, [good], env=dict(junk))
        self.check("hostile (junk environment): the correct code unlocks; nothing on stderr; nothing made in "
                   "the home", status == ("exit", 0) and run.err_output == b"" and before_home == w.snapshot(home),
                   "%s; stderr %r; home %s" % (describe(status), run.err_output[:200],
                                               w.diff(before_home, w.snapshot(home))))
        # Arguments: it reads none (a name to check, a format string, a long argv[0]).
        for argv in (["pam_totp_check", "--user", "root", "state_dir=/tmp"], ["%s%n%s%n%x"], ["x" * 100000]):
            before = w.account(user)
            status, run = w.direct(user, user, [w.wrong_code(user, 65)], argv=argv)
            self.login_counts(user, "argv %r" % (argv if len(argv[0]) < 100 else "a 100 kB argv[0]"), status, run,
                              before)
        # Interval timers armed by the caller survive the exec: they must not
        # go off in the helper (SIGALRM, SIGVTALRM, SIGPROF would end it).
        before = w.account(user)
        status, run = w.direct(user, user, [w.wrong_code(user, 66)], itimers=0.2,
                               on_ask=lambda run, _prompt: time.sleep(0.5))
        self.check("hostile (interval timers armed to fire 0.2 s after the exec; the answer comes after 0.5 s): "
                   "the helper lives on, and the wrong code is counted",
                   status == ("exit", EXIT_DENIED) and counted(w.account(user)) == counted(before) + 1,
                   "%s; %s" % (describe(status), texts(run.log)))
        # A socket with O_NONBLOCK: the helper still sleeps while it waits.
        cpu = {}

        def idle(run, _prompt):
            def ticks():
                with open("/proc/%d/stat" % run.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return int(fields[11]) + int(fields[12])   # utime + stime
            t0 = ticks()
            time.sleep(0.5)
            cpu["ticks"] = ticks() - t0

        status, run = w.direct(user, user, [w.wrong_code(user, 67)], nonblocking=True, on_ask=idle)
        hz = os.sysconf("SC_CLK_TCK")
        self.check("hostile (a non-blocking socket): the helper sleeps while it waits for the answer (%s ms of CPU "
                   "in 0.5 s) and works" % (cpu.get("ticks", -1) * 1000 // hz),
                   cpu.get("ticks", 99) * 1000 // hz <= 50 and status == ("exit", EXIT_DENIED),
                   "%s; cpu %s; %s" % (describe(status), cpu, texts(run.log)))
        w.reset(user)   # the wrong codes so far (their long-run debt too)
        # An environment close to ARG_MAX.
        arg_max = os.sysconf("SC_ARG_MAX")
        big = {}
        chunk = 100 * 1024
        while sum(len(k) + len(v) + 2 for k, v in big.items()) + chunk + 64 * 1024 < arg_max:
            big["JUNK%d" % len(big)] = "x" * chunk
        size = sum(len(k) + len(v) + 2 for k, v in big.items())
        before = w.account(user)
        status, run = w.direct(user, user, [w.wrong_code(user, 64)], env=dict(big))
        note("huge environment: %d bytes in %d variables (ARG_MAX %d)" % (size, len(big), arg_max))
        self.login_counts(user, "environment of %d kB" % (size // 1024), status, run, before)
        status, run = w.direct(user, user, [w.good_code(user)], env=dict(big))
        self.check("hostile (environment of %d kB): the correct code unlocks" % (size // 1024),
                   status == ("exit", 0), "%s; %s" % (describe(status), texts(run.log)))

    def hostile_fds(self):
        w = self.w
        user = "totpl7"
        uid, gid, home = w.ids[user]
        w.reset(user)
        paths = [DEFAULT_STATE, home]
        for closed in ((0, 1, 2), (0, 1), (0,), (1,)):
            before = w.snapshot(*paths)
            status, run = w.direct(user, user, [], close=closed, timeout=5)
            self.check("hostile (fd %s closed at exec): the helper ends by itself, not a success"
                       % ",".join(map(str, closed)),
                       status is not None and status != ("exit", 0) and status[0] == "exit", describe(status))
            # glibc puts /dev/full or /dev/null on a closed fd 0-2 of a setuid
            # program: the helper then cannot read the request (refused) or
            # cannot send its question (denied).
            self.refused("hostile (fd %s closed)" % ",".join(map(str, closed)), status, run,
                         expect_reason=r"standard input or output|reading the request|conversation failed",
                         state_before=before, state_paths=paths, exits=(EXIT_REFUSED, EXIT_DENIED))
        # fd 2 closed only: works, and nothing it writes lands anywhere.
        before = w.account(user)
        status, run = w.direct(user, user, [w.wrong_code(user, 70)], close=(2,))
        self.login_counts(user, "fd 2 closed", status, run, before)
        status, run = w.direct(user, user, [w.good_code(user)], close=(2,))
        self.check("hostile (fd 2 closed): the correct code unlocks", status == ("exit", 0), describe(status))
        # Many inherited descriptors: none is open in the helper once it asks.
        bait = os.path.join(home, "fdbait")
        with open(bait, "w") as f:
            f.write("bait\n")
        os.chown(bait, uid, gid)
        seen = {}

        def look(run, _prompt):
            fds = {}
            for fd in os.listdir("/proc/%d/fd" % run.pid):
                with contextlib.suppress(OSError):
                    fds[int(fd)] = os.readlink("/proc/%d/fd/%s" % (run.pid, fd))
            seen.update(fds)

        before = w.account(user)
        status, run = w.direct(user, user, [w.wrong_code(user, 71)], extra_files=[bait, home], extra_count=300,
                               on_ask=look)
        leaked = {fd: t for fd, t in seen.items() if fd > 2 and (t == bait or t == home)}
        self.check("hostile (600 inherited fds): the helper has none of them open when it asks (its fds: %s)"
                   % ", ".join("%d %s" % kv for kv in sorted(seen.items())),
                   bool(seen) and not leaked and len(seen) <= 6, "open: %s" % seen)
        self.login_counts(user, "600 inherited fds", status, run, before)

    def hostile_signals(self):
        w = self.w
        user = "totpl8"
        uid, gid, home = w.ids[user]
        # deny=100 (an administrator's helper.conf line): some 25 wrong codes
        # below, and no lockout may get in the way of counting them.
        args = ["deny=100"]
        w.helper_conf("deny=100\n")
        w.enroll_home(user)
        w.direct(user, user, [w.wrong_code(user, 80)], args=args)   # a state file to watch
        sender = W.AttackerSignals(uid, gid)
        watch = Inotify(DEFAULT_STATE)
        name = "u-" + user

        def answered(answer):
            """A helper that asked and got ANSWER, stopped (SIGSTOP, by the
            user) once the state file changed (the charge) or after 3 s."""
            run = w.run_helper(user)
            run.send(request(user, args))
            m = run.next()
            if m is None or m[0] != "ask_noecho":
                raise RuntimeError("no question from the helper: %s; %s" % (m, run.received))
            watch.drain()
            run.send(message("answer", answer))
            run.modified = watch.wait_modify(name, 3)
            return run

        def stop(run):
            err = sender.kill(run.pid, signal.SIGSTOP)
            return err == 0 and wait_stopped(run.pid)

        try:
            # SIGSTOP, then SIGKILL, before the answer: nothing charged.
            before = w.snapshot(DEFAULT_STATE)
            run = w.run_helper(user)
            run.send(request(user, args))
            m = run.next()
            errs = [sender.kill(run.pid, signal.SIGSTOP)]
            wait_stopped(run.pid)
            errs.append(sender.kill(run.pid, signal.SIGKILL))
            status = run.finish()
            self.check("hostile (signals): the user may stop and kill its helper (no EPERM)", errs == [0, 0],
                       "errnos %s" % errs)
            self.check("hostile (SIGSTOP+SIGKILL at the prompt, before any answer): nothing written",
                       m is not None and m[0] == "ask_noecho" and status == ("signal", signal.SIGKILL)
                       and before == w.snapshot(DEFAULT_STATE), "%s; %s" % (m, describe(status)))
            # A wrong code answered, the helper stopped once the state file changes
            # (the charge), looked at, killed: counted once, by the next login.
            cats = {"charged, not settled": 0, "settled": 0, "nothing written": 0}
            problems = []
            delays = [0, 0, 0, 0, 0, 0, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1]
            for i, extra in enumerate(delays):
                before = w.account(user)
                run = answered(w.wrong_code(user, 81 + i))
                if extra:
                    time.sleep(extra)
                stopped = stop(run)
                try:
                    mid = w.account(user)
                except state_files.StateError as e:
                    problems.append("attempt %d: torn state while stopped: %s" % (i, e))
                    mid = None
                sender.kill(run.pid, signal.SIGKILL)
                run.finish()
                after = w.account(user)
                delta = counted(after) - counted(before)
                if mid is not None and mid["charge"] is not None and stopped:
                    cats["charged, not settled"] += 1
                    if delta != 1:
                        problems.append("attempt %d: stopped while charged, but counted went %d -> %d"
                                        % (i, counted(before), counted(after)))
                    # The next login settles it, says so, and counts it.
                    b2 = w.account(user)
                    st2, run2 = w.direct(user, user, [w.wrong_code(user, 120 + i)], args=args)
                    a2 = w.account(user)
                    if not any("cut short" in t for t in texts(run2.log)) or a2["since_success"] != \
                            b2["since_success"] + 2 or a2["charge"] is not None:
                        problems.append("attempt %d: the next login: %s; since_success %d -> %d; log %s"
                                        % (i, describe(st2), b2["since_success"], a2["since_success"],
                                           texts(run2.log)))
                elif delta == 1:
                    cats["settled"] += 1
                elif delta == 0:
                    cats["nothing written"] += 1
                    if run.modified:
                        problems.append("attempt %d: the state changed but nothing was counted" % i)
                else:
                    problems.append("attempt %d: counted went %d -> %d" % (i, counted(before), counted(after)))
            note("SIGSTOP when the state changed, then SIGKILL, %d wrong codes: %s"
                 % (len(delays), ", ".join("%s %d" % kv for kv in cats.items())))
            bad, _ = W.state_dir_leftovers(DEFAULT_STATE)
            self.check("hostile (SIGSTOP/SIGKILL after a wrong answer, %d times): each counted exactly once (by "
                       "the next login when cut short, which says so); no torn state; no stray file"
                       % len(delays), not problems and not bad, "; ".join(problems) + " stray %s" % bad)
            self.check("hostile (signals): some stops landed between the charge and its settling",
                       cats["charged, not settled"] > 0, str(cats))
            # The correct code, cut short after its charge: never accepted later.
            outcomes = []
            for i in range(2):
                w.enroll_home(user)
                good = w.good_code(user)
                run = answered(good)
                stop(run)
                mid = w.account(user)
                sender.kill(run.pid, signal.SIGKILL)
                run.finish()
                st2, run2 = w.direct(user, user, [good], args=args)
                outcomes.append(("charged" if mid["charge"] is not None else "settled", describe(st2),
                                 texts(helper_lines(run2.log))))
            self.check("hostile (SIGKILL after a correct code's charge): that code is refused afterwards (it "
                       "was charged: replay refused)", all(o[1].startswith("exit 1") for o in outcomes),
                       str(outcomes))
            # A helper stopped while it holds the state's lock: another login is
            # denied after the bounded wait and says why; after SIGKILL all is well.
            run = answered(w.wrong_code(user, 90))
            stop(run)
            locks = W.flocks_in(DEFAULT_STATE).get(run.pid, [])
            held = bool(locks)
            note("the stopped helper holds flocks on %s" % locks)
            # Another user is not held up, not even for a first login (a new
            # state file and token claim in the same directory).
            other = "totpl12"
            w.enroll_home(other)
            times = []
            for _ in range(2):
                t0 = time.monotonic()
                st_o, run_o = w.direct(other, other, [w.good_code(other)], args=args, timeout=15)
                times.append((describe(st_o), round(time.monotonic() - t0, 2)))
            self.check("hostile (helper SIGSTOPped holding its state lock): another user's logins (the first "
                       "one creating its state) go through at once",
                       all(d == "exit 0 (success)" and t < 1.5 for d, t in times), str(times))
            t0 = time.monotonic()
            st2, run2 = w.direct(user, user, [w.wrong_code(user, 91)], args=args, timeout=15)
            took = time.monotonic() - t0
            sender.kill(run.pid, signal.SIGKILL)
            run.finish()
            self.check("hostile (helper SIGSTOPped holding the state lock): another login is denied within 7 s "
                       "and logs why", held and st2 is not None and st2 != ("exit", 0) and took < 7
                       and any("cannot use the state" in t for t in texts(run2.log)),
                       "lock held %s; %s after %.1f s; %s" % (held, describe(st2), took, texts(run2.log)))
            self.through_pamtester(user, args)
            # (A code cut short after its charge blocks its token's window:
            # a new secret for the last check.)
            w.enroll_home(user)
            st3, run3 = w.direct(user, user, [w.good_code(user)], args=args)
            self.check("hostile (signals): afterwards the correct code unlocks, and tells of the wrong codes",
                       st3 == ("exit", 0) and any("wrong code" in t for t in run3.texts()),
                       "%s; %s" % (describe(st3), texts(run3.log) + run3.texts()))
        finally:
            watch.close()
            sender.close()
            w.helper_conf(None)

    def through_pamtester(self, user, args):
        """The helper killed under a locker (pamtester as the user) at its
        question: the locker denies and says why; the locker killed: its
        helper goes too. Nothing is charged either way."""
        w = self.w
        uid, gid, home = w.ids[user]
        w.service("locker-signals", w.totp_line(" ".join(args)))

        def start():
            p = subprocess.Popen(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--init-groups", "--",
                                  "pamtester", "locker-signals", user, "authenticate"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env=dict(L.ENV, HOME=home, USER=user), cwd=home, preexec_fn=W._default_signals)
            deadline = time.monotonic() + 5
            helper = None
            while helper is None and time.monotonic() < deadline:
                for pid in W.descendants(p.pid):
                    with contextlib.suppress(OSError), open("/proc/%d/comm" % pid) as f:
                        # asleep: waiting for the answer
                        if f.read().strip() == "pam_totp_check" and W.proc_state(pid) == "S":
                            helper = pid
                time.sleep(0.01)
            time.sleep(0.05)   # the question is on its way
            return p, helper

        before = w.snapshot(DEFAULT_STATE)
        mark = w.log.mark()
        p, helper = start()
        err = W.AttackerSignals(uid, gid)
        try:
            e = err.kill(helper, signal.SIGKILL) if helper else None
        finally:
            err.close()
        try:
            out, _ = p.communicate(w.wrong_code(user, 95).encode() + b"\n", timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        w.log.flush()
        log = w.log.since(mark)
        failed = [l for l in errors(L.module_lines(log)) if L.DEFAULT_HELPER in l
                  and ("failed (exit status -1" in l or "talking to" in l)]
        self.check("hostile (the user SIGKILLs the helper under pamtester at the question): pamtester denies, "
                   "the module logs it at LOG_ERR, nothing charged",
                   helper is not None and e == 0 and p.returncode == 1 and len(failed) == 1
                   and before == w.snapshot(DEFAULT_STATE),
                   "helper %s (kill: %s); exit %s; output %r; log %s" % (helper, e, p.returncode, out, texts(log)))
        p, helper = start()
        p.kill()
        p.wait()
        gone = False
        deadline = time.monotonic() + 3
        while helper and time.monotonic() < deadline:
            if W.proc_state(helper) in (None, "Z", "X"):
                gone = True
                break
            time.sleep(0.01)
        p.stdin.close()
        p.stdout.close()
        self.check("hostile (the locker killed while its helper asks): the helper reads the end of its socket and "
                   "exits at once, nothing charged",
                   helper is not None and gone and before == w.snapshot(DEFAULT_STATE), "helper %s gone %s" %
                   (helper, gone))

    def hostile_limits(self):
        w = self.w
        user = "totpl9"
        uid, gid, home = w.ids[user]
        w.enroll_home(user)
        w.direct(user, user, [w.good_code(user)])
        for limits in ({"fsize": 0}, {"nofile": 8}, {"nofile": 4}, {"as": 8 << 20}, {"as": 24 << 20},
                       {"as": 64 << 20}, {"cpu": 1}, {"fsize": 0, "nofile": 8, "cpu": 1}):
            label = " ".join("%s=%d" % kv for kv in sorted(limits.items()))
            outs = []
            problems = []
            w.reset(user)            # the long-run debt of the rounds before
            w.enroll_home(user)      # fresh steps for the two correct codes below
            good = w.good_code(user)
            home_before = w.snapshot(home)
            for i in range(3):
                before = w.account(user)
                status, run = w.direct(user, user, [w.wrong_code(user, 100 + i)], limits=limits)
                try:
                    after = w.account(user)
                except state_files.StateError as e:
                    problems.append("torn state: %s" % e)
                    break
                delta = counted(after) - counted(before)
                kind = classify(helper_lines(run.log))
                outs.append("%s/%s/+%d" % (describe(status), kind, delta) +
                            (" %s" % texts(helper_lines(run.log)) if kind == "unknown" and i == 0 else ""))
                if status == ("exit", 0) or delta not in (0, 1) or (kind == "wrong" and delta != 1):
                    problems.append("attempt %d: %s, counted %d -> %d, log %s"
                                    % (i, describe(status), counted(before), counted(after), texts(run.log)))
            status, run = w.direct(user, user, [good], limits=limits)
            kind = classify(helper_lines(run.log))
            outs.append("correct code: %s/%s" % (describe(status), kind))
            if status is None or (status == ("exit", 0)) != (kind == "accepted"):
                problems.append("correct code: %s, log %s" % (describe(status), texts(run.log)))
            bad, _ = W.state_dir_leftovers(DEFAULT_STATE)
            if bad:
                problems.append("stray files in the state directory: %s" % bad)
            if w.diff(home_before, w.snapshot(home)):
                problems.append("home changed: %s" % w.diff(home_before, w.snapshot(home)))
            after_limit = w.direct(user, user, [w.good_code(user)])
            st = w.account(user)
            if after_limit[0] != ("exit", 0) or st["charge"] is not None:
                problems.append("without the limit afterwards: %s; state %s; log %s"
                                % (describe(after_limit[0]), st, texts(after_limit[1].log)))
            note("limits %s: %s" % (label, "; ".join(outs)))
            self.check("hostile (rlimit %s): wrong codes denied, counted once if checked, never a success; no "
                       "torn state; the correct code works without the limit" % label, not problems,
                       "; ".join(problems) + " | " + "; ".join(outs))

    def hostile_privilege(self):
        w = self.w
        user = "totpl10"
        uid, gid, home = w.ids[user]
        w.enroll_home(user)
        code = w.good_code(user)   # offered to every denied attempt below: none may use it up
        paths = [DEFAULT_STATE, home]
        before = w.snapshot(*paths)
        res = w.pamtester(user, "locker-default", [code], extra=["--no-new-privs"])
        errs = [l for l in errors(L.module_lines(res.log)) if "no_new_privs" in l]
        self.check("hostile (setpriv --no-new-privs pamtester): denied, one LOG_ERR line from the module naming "
                   "no_new_privs, the helper never ran, nothing written",
                   res.rc == 1 and len(errs) == 1 and not res.via_helper and before == w.snapshot(*paths),
                   res.describe())
        status, run = w.direct(user, user, [code], no_new_privs=True)
        self.refused("hostile (the helper exec'd with no_new_privs: not root)", status, run,
                     expect_reason=r"not running as root", state_before=before, state_paths=paths)
        for name, what in (("plain_check", "mode 0755, no setuid bit"),
                           ("groupw_check", "mode 4775, group-writable")):
            w.service("locker-bad-helper", w.totp_line("helper=" + os.path.join(w.suid, name)))
            res = w.pamtester(user, "locker-bad-helper", [code])
            errs = [l for l in errors(L.module_lines(res.log)) if "not a setuid-root program" in l]
            self.check("hostile (helper= a copy with %s): denied, LOG_ERR 'not a setuid-root program', never run"
                       % what, res.rc == 1 and len(errs) == 1 and not res.via_helper
                       and before == w.snapshot(*paths), res.describe())
        w.service("locker-bad-helper", w.totp_line("helper=" + w.path("no-such-helper")))
        res = w.pamtester(user, "locker-bad-helper", [code])
        self.check("hostile (helper= a missing file): denied with a LOG_ERR line, nothing written",
                   res.rc == 1 and len(errors(L.module_lines(res.log))) == 1 and before == w.snapshot(*paths),
                   res.describe())
        res = w.pamtester(user, "locker-default", [code])
        self.check("hostile (privilege): afterwards the normal path unlocks with the code every denied attempt "
                   "was offered", res.ok, res.describe())

    # --- 7: protocol abuse --------------------------------------------------

    def protocol(self):
        w = self.w
        user = ATTACKER
        uid, gid, home = w.ids[user]
        w.enroll_home(user)
        ok = w.direct(user, user, [w.good_code(user)])
        self.check("protocol: a well-formed request by %s for itself works (control)" % user,
                   ok[0] == ("exit", 0), describe(ok[0]))
        good = request(user)
        hello = message("hello", "1")
        cases = [
            ("nothing (EOF at once)", b""),
            ("garbage", b"garbage\n"),
            ("a line of text", b"hello world\n"),
            ("binary noise", bytes(range(256))),
            ("an oversized length (99999)", b"hello 99999\n"),
            ("a 6-digit length", b"hello 100000\n"),
            ("a length over the limit (8193)", b"hello 8193\n" + b"1" * 8193 + b"\n"),
            ("a leading zero", b"hello 01\n1\n"),
            ("a negative length", b"hello -1\n"),
            ("an empty length", b"hello \n\n"),
            ("a value not followed by LF", b"hello 1\n1X" + message("user", user)),
            ("an unknown message", b"helo 1\n1\n"),
            ("a name in capitals", b"HELLO 1\n1\n"),
            ("a 17-letter name", b"abcdefghijklmnopq 1\n1\n"),
            ("protocol version 2", message("hello", "2") + good[len(hello):]),
            ("user before hello", message("user", user) + good),
            ("hello twice", hello + good),
            ("user twice", hello + message("user", user) + good[len(hello):]),
            ("a NUL in user", hello + message("user", user + "\0x") + message("end")),
            ("a NUL-terminated user", hello + message("user", user + "\0") + message("end")),
            ("a newline in user", hello + message("user", user + "\n") + message("end")),
            ("an empty user", hello + message("user", "") + message("end")),
            ("a user of 300 bytes", hello + message("user", "a" * 300) + message("end")),
            ("end without user", hello + message("end")),
            ("an answer inside the request", hello + message("user", user) + message("answer", "123456") +
             message("end")),
            ("an ask inside the request", hello + message("user", user) + message("ask_echo", "x") + message("end")),
            ("an escape in service", hello + message("user", user) + message("service", "\x1b[2J") +
             message("end")),
            ("a blank in service", hello + message("user", user) + message("service", "sshd x") + message("end")),
            ("a parenthesis in tty", hello + message("user", user) + message("tty", "pts(0)") + message("end")),
            ("a quote in rhost", hello + message("user", user) + message("rhost", "h'x") + message("end")),
            ("an rhost of 65 bytes", hello + message("user", user) + message("rhost", "r" * 65) + message("end")),
            ("a NUL in an argument", hello + message("user", user) + message("arg", "deny=5\0x") + message("end")),
            ("an empty argument", hello + message("user", user) + message("arg", "") + message("end")),
            ("65 arguments", hello + message("user", user) + b"".join(message("arg", "debug") for _ in range(65))
             + message("end")),
            ("an unknown option", hello + message("user", user) + message("arg", "evil=1") + message("end")),
            ("authtok twice", hello + message("user", user) + message("authtok", "a") + message("authtok", "b") +
             message("end")),
            ("the request cut short", good[:-3]),
        ]
        paths = [DEFAULT_STATE, home]
        for what, data in cases:
            before = w.snapshot(*paths)
            mark = w.log.mark()
            run = w.run_helper(user)
            run.send(data)
            with contextlib.suppress(OSError):
                run.sock.shutdown(1)   # SHUT_WR: the helper reads EOF after the data
            asked = False
            with contextlib.suppress(TimeoutError, OSError):
                while True:
                    m = run.next(5)
                    if m is None:
                        break
                    asked = asked or m[0].startswith("ask")
            status = run.finish(5)
            w.log.flush()
            run.log = w.log.since(mark)
            self.refused("protocol: %s" % what, status, run, state_before=before, state_paths=paths)
            if asked:
                self.check("protocol: %s: no question asked" % what, False, str(run.received))
        # An ask never answered: the socket closed (the caller killed).
        before = w.snapshot(DEFAULT_STATE)
        for what, action in (("closes the socket", lambda run: run.close_socket()),
                             ("sends no_answer", lambda run: run.send(message("no_answer"))),
                             ("sends garbage", lambda run: run.send(b"answer 6\n12345")),
                             ("sends an answer of 8192 bytes", lambda run: run.send(message("answer", "1" * 8192))),
                             ("sends a second request", lambda run: run.send(good))):
            mark = w.log.mark()
            run = w.run_helper(user)
            run.send(good)
            m = run.next()
            t0 = time.monotonic()
            action(run)
            status = run.finish(5)
            took = time.monotonic() - t0
            w.log.flush()
            log = w.log.since(mark)
            self.check("protocol: the caller %s after the ask: the helper ends (%.2f s), denied, nothing charged"
                       % (what, took), m is not None and m[0] == "ask_noecho" and status is not None
                       and status != ("exit", 0) and took < 5 and before == w.snapshot(DEFAULT_STATE),
                       "%s; %s; log %s; changed %s" % (m, describe(status), texts(log),
                                                       w.diff(before, w.snapshot(DEFAULT_STATE))))
        # Random mutations of a valid request: never a success, never a crash, nothing charged.
        rng = random.Random(16)
        results = {}
        problems = []
        for i in range(60):
            data = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                if not data:
                    break
                op = rng.randrange(4)
                pos = rng.randrange(len(data))
                if op == 0:
                    data[pos] = rng.randrange(256)
                elif op == 1:
                    del data[pos:pos + rng.randint(1, 8)]
                elif op == 2:
                    data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
                else:
                    data = data[:pos]
            run = w.run_helper(user)
            run.send(bytes(data))
            with contextlib.suppress(OSError):
                run.sock.shutdown(1)
            with contextlib.suppress(TimeoutError, OSError):
                while run.next(5) is not None:
                    pass
            status = run.finish(5)
            results[describe(status)] = results.get(describe(status), 0) + 1
            if status is None or status[0] != "exit" or status[1] not in (1, 4):
                problems.append("%r: %s" % (bytes(data)[:80], describe(status)))
        note("60 mutated requests: %s" % results)
        self.check("protocol: 60 random mutations of a request: each refused or denied (exit 4 or 1), none "
                   "crashed or hung, nothing charged", not problems and before == w.snapshot(DEFAULT_STATE),
                   "; ".join(problems[:5]) + " changed %s" % w.diff(before, w.snapshot(DEFAULT_STATE)))
        res = w.direct(user, user, [w.good_code(user)])
        self.check("protocol: afterwards %s's correct code unlocks" % user, res[0] == ("exit", 0),
                   describe(res[0]))
        # The labels (service, tty, rhost) are the caller's words and go into
        # the state's last login: all the punctuation allowed, the format's own keys.
        labels = {"service": "a[b]%n:last_login@x+y", "tty": "/dev/pts/0:charge", "rhost": "r" * 64}
        mark = w.log.mark()
        run = w.run_helper(user)
        run.send(request(user, **labels))
        run.converse([w.good_code(user)])
        status = run.finish()
        w.log.flush()
        try:
            st = w.account(user)
            problem = None if st and st["account"] == user and st["charge"] is None else "state %s" % st
        except state_files.StateError as e:
            problem = "state unreadable: %s" % e
        again = w.direct(user, user, [w.good_code(user)])
        self.check("protocol: service, tty and rhost with all the punctuation allowed, the longest rhost: the login "
                   "works, the state stays well-formed, the next login works",
                   status == ("exit", 0) and problem is None and again[0] == ("exit", 0),
                   "%s; %s; next %s; log %s" % (describe(status), problem, describe(again[0]),
                                                texts(w.log.since(mark))))
        # A code sent as 'deferred' (what a forward_pass defer line kept) is
        # checked without a question, and charged like any answer.
        for label, code, want in (("a wrong code", w.wrong_code(user, 140), EXIT_DENIED),
                                  ("the correct code", w.good_code(user), EXIT_SUCCESS)):
            before = w.account(user)
            mark = w.log.mark()
            run = w.run_helper(user)
            run.send(request(user, deferred=code))
            run.converse([])
            status = run.finish()
            w.log.flush()
            run.log = w.log.since(mark)
            after = w.account(user)
            self.check("protocol: %s sent as 'deferred' is checked without a question and charged (%s)"
                       % (label, describe(status)),
                       status == ("exit", want) and not any(n.startswith("ask") for n, _ in run.received)
                       and (want == EXIT_SUCCESS or counted(after) == counted(before) + 1),
                       "%s; counted %d -> %d; %s" % (describe(status), counted(before), counted(after),
                                                     texts(run.log)))
            if want == EXIT_SUCCESS:
                again = w.direct(user, user, [code])
                self.check("protocol: ... and the deferred code is then used (replay refused)",
                           again[0] == ("exit", EXIT_DENIED)
                           and any("replay refused" in t for t in texts(again[1].log)), texts(again[1].log))

    # --- the 30 s request deadline ------------------------------------------

    def deadline(self):
        w = self.w
        for what, run in self.idle:
            run.watcher.join(max(run.started + 45 - time.monotonic(), 0))
            status = run.status
            took = (run.ended if status else time.monotonic()) - run.started
            run.finish(1)
            self.check("deadline (%s, socket kept open): the helper exits by itself after its 30 s wait "
                       "(%.1f s), refusing" % (what, took),
                       status == ("exit", EXIT_REFUSED) and 29 <= took <= 36, describe(status))
        w.log.flush()
        lines = [l for l in errors(helper_lines(w.log.since(self.idle_mark))) if "no complete message in time" in l]
        self.check("deadline: each logged why (LOG_ERR, 'no complete message in time')", len(lines) == len(self.idle),
                   texts(lines))

    # --- 8: the log ------------------------------------------------------------

    def log(self):
        w = self.w
        # The debug option (the caller's) adds lines: with them too, no code.
        user = "totpl10"
        w.enroll_home(user)
        w.direct(user, user, [w.wrong_code(user, 1)], args=["debug"])
        w.direct(user, user, [w.good_code(user)], args=["debug"])
        w.log.flush()
        missing = []
        for what, lines in self.refusals:
            errs = errors(helper_lines(lines))
            # "uid N service S: REASON": a reason of a few words after the labels
            if len(errs) != 1 or not re.search(r"^uid \d+ service \S+: \S+ \S+ .{12,}", message_text(errs[0])):
                missing.append("%s: %s" % (what, texts(helper_lines(lines))))
        self.check("log: each of the %d refusals above has exactly one LOG_ERR line of pam_totp_check, "
                   "naming the reason" % len(self.refusals), not missing, "; ".join(missing[:5]))
        lines = w.log.since(0)
        leaks = []
        numbers = re.compile(r"uid \d+|\d+ of \d+|within \d+ s|\d+ (more )?seconds|debt \d+|lockout \d+")
        for line in lines:
            text = numbers.sub("", message_text(line))
            for s in w.sent:
                if len(s) >= 6 and re.search(r"(?<![0-9A-Za-z])%s(?![0-9A-Za-z])" % re.escape(s), text):
                    leaks.append("%r in %r" % (s, message_text(line)))
        self.check("log: none of the %d log lines holds any of the %d codes, secrets and passwords sent"
                   % (len(lines), len(w.sent)), not leaks, "; ".join(leaks[:5]))
        # A caller's service label cannot make the helper's line claim
        # another uid (or another user's result) before its own.
        forged = "sshd, as uid 0) user root: code accepted [x"
        mark = w.log.mark()
        run = w.run_helper(user)
        run.send(request(user, service=forged))
        run.converse([w.wrong_code(user, 2)])
        run.finish()
        w.log.flush()
        uid = w.ids[user][0]
        bad = [message_text(l) for l in helper_lines(w.log.since(mark))
               if re.search(r"\buid (\d+)", message_text(l)).group(1) != str(uid)
               or "user root" in message_text(l)]
        self.check("log: a service label from the caller cannot forge the helper's line (another uid, another "
                   "user's result first)", not bad, "; ".join(bad))
        helper_all = helper_lines(lines)
        bad_ident = [l for l in helper_all if severity_facility(l) != 10]
        self.check("log: pam_totp_check logs with facility authpriv (%d lines)" % len(helper_all),
                   helper_all and not bad_ident, "; ".join(bad_ident[:3]))


def severity_facility(line):
    m = re.match(r"<(\d+)>", line)
    return int(m.group(1)) >> 3 if m else None


TESTS = ["pamtester", "shared_budget", "vlock", "stacks", "application", "other_user", "policy", "hostile", "protocol",
         "deadline", "log"]


def run(world, results):
    world.build_locker(VICTIMS)
    s = W.new_secret()
    step = W.now_step()
    results.check("the suite's TOTP matches oathtool", W.totp(s, step) == W.oathtool_code(s, step))
    suite = Suite(world, results)
    suite.setup()
    tests = chosen(TESTS, os.environ.get("LOCKER_ONLY", ""))
    if "deadline" in tests:
        suite.start_idle_helpers()
    run_tests(suite, results, tests)


def main(argv):
    return namespace_init(argv, lambda root: LockerWorld(root, os.environ), run)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
