"""The world of the locker tests, inside the private mount and PID
namespaces run.py made. tests/security/world.py builds the base (test
users in a tmpfs copy of /etc, ROOT/pam.d as /etc/pam.d, ROOT/log.sock as
/dev/log read by SyslogCatcher, /dev/ptmx for pexpect, tmpfs /run and
/var/log); this adds what a screen locker needs:

    ROOT/suid           a tmpfs mounted here only (suid allowed), mode 0755, root's:
                        pam_totp_check (a copy of the build's, root 4755), plain_check
                        (0755, no setuid bit), groupw_check (4775: group-writable),
                        pam_totp.so (a copy of the build's module: the service files
                        name it, so that a rebuild meanwhile cannot pull it away)
    /usr/sbin           a tmpfs copy of the host's with pam_totp_check = ROOT/suid/pam_totp_check,
                        the module's default helper path
    /var/lib            a tmpfs copy with pam_totp = ROOT/state (0700, root's): the default state_dir
    /etc/pam_totp       a directory (0755) in the namespace's /etc: helper.conf goes here

Users log in as themselves: secrets in ~/.pam_totp (the default secret=),
pamtester and vlock run through setpriv or runuser, the helper directly
through helper_client.HelperRun.
"""

import base64
import contextlib
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import time

import state_files
import world as W
from helper_client import HelperRun, request
from private_ns import MS_NODEV, mount, replica

PERIOD = 30
DEFAULT_STATE = "/var/lib/pam_totp"
HELPER_CONF = "/etc/pam_totp/helper.conf"
DEFAULT_HELPER = "/usr/sbin/pam_totp_check"
CODE_PROMPT = "Verification code: "
LOCK_TEXT = "Too many wrong codes"
REPLAY_TEXT = "already used"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "TERM": "dumb"}
LOG_ERR = 3


def severity(line):
    m = re.match(r"<(\d+)>", line)
    return int(m.group(1)) & 7 if m else None


def helper_lines(lines):
    """The datagrams pam_totp_check sent (ident "pam_totp_check[PID]")."""
    return [l for l in lines if re.search(r"\bpam_totp_check\[\d+\]: ", l)]


def module_lines(lines):
    return [l for l in lines if "pam_totp(" in l]


def classify(lines):
    """What the helper's (or the module's) log lines say became of one
    answer, as world.classify does for the module's: 'accepted', 'wrong',
    'unchecked', 'locked', 'busy' or 'unknown'."""
    text = "\n".join(message_text(l) for l in lines if "cut short" not in l)
    if "was not checked" in text:
        return "unchecked"
    if "code accepted" in text:
        return "accepted"
    if re.search(r"wrong code|already used|wrong or used recovery|too many wrong codes", text):
        return "wrong"
    if "code entry locked" in text:
        return "locked"
    if "cannot use the state" in text:
        return "busy"
    return "unknown"


def message_text(line):
    """A datagram without "<PRI>TIMESTAMP IDENT[PID]: "."""
    m = re.match(r"<\d+>(?:\w{3} [ \d]\d \d\d:\d\d:\d\d )?[^:\[]*(?:\[\d+\])?: (.*)", line, re.S)
    return m.group(1) if m else line


def is_audit(line):
    """The audit line every login ends with (pam_totp(8), LOGGING): a summary
    of the outcome, not a reason of its own."""
    return re.search(r": outcome=\S* user=", line) is not None


def errors(lines):
    """The LOG_ERR lines that give a reason (not the audit line)."""
    return [l for l in lines if severity(l) == LOG_ERR and not is_audit(l)]


def stable_copy(src, dst, tries=20):
    """Copies SRC to DST once SRC holds still (the same size and mtime
    before and after the copy): a build may be rewriting it."""
    for _ in range(tries):
        before = os.stat(src)
        shutil.copyfile(src, dst)
        after = os.stat(src)
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and \
                os.path.getsize(dst) == after.st_size and time.time() - after.st_mtime > 1:
            return
        time.sleep(0.5)
    raise RuntimeError("%s keeps changing (a build running?)" % src)


class Result:
    """What one login did: exit status, output, the log lines of its time."""

    def __init__(self, rc, out, log):
        self.rc = rc
        self.out = out
        self.log = log

    @property
    def ok(self):
        return self.rc == 0

    @property
    def via_helper(self):
        return bool(helper_lines(self.log))

    def describe(self):
        return "exit %s; output %r; log %s" % (self.rc, self.out[-400:],
                                               [message_text(l) for l in self.log] or "(none)")


class LockerWorld(W.World):
    def __init__(self, root, env):
        super().__init__(root, env["PAM_TOTP_MODULE"], env["TOTP_ENROLL"], env["TESTS_DATA"])
        self.check_build = env["PAM_TOTP_CHECK"]
        self.pam_login = env["PAM_LOGIN"]
        self.admin = env["TOTP_ADMIN"]
        self.suid = self.path("suid")
        self.helper = os.path.join(self.suid, "pam_totp_check")
        self.state = self.path("state")
        self.last_step = {}     # user -> the last time step a code was sent for (not to be reused)
        self.sent = set()       # every code, secret and password that went anywhere (for the log check)

    # --- the namespace --------------------------------------------------

    def build_locker(self, victims):
        self.build(victims)
        os.mkdir(self.suid, 0o755)
        mount("locker-suid", self.suid, "tmpfs", MS_NODEV, "mode=0755,size=256m")
        # Copies of the build's module and helper, made once: a rebuild
        # running meanwhile (make -j) cannot pull them away mid-suite.
        for name, src, mode in (("pam_totp_check", self.check_build, 0o4755),
                                ("plain_check", self.check_build, 0o755),
                                ("groupw_check", self.check_build, 0o4775),
                                ("pam_totp.so", self.module, 0o644)):
            p = os.path.join(self.suid, name)
            stable_copy(src, p)
            os.chown(p, 0, 0)
            os.chmod(p, mode)
        self.module = os.path.join(self.suid, "pam_totp.so")
        os.mkdir(self.state, 0o700)
        replica("/usr/sbin", self.path("ns-sbin"), {"pam_totp_check": self.helper}, "locker")
        replica("/var/lib", self.path("ns-varlib"), {"pam_totp": self.state}, "locker")
        os.mkdir("/etc/pam_totp", 0o755)
        self.write_pam("runuser", "auth sufficient pam_rootok.so\nauth required pam_deny.so\n"
                                  "account required pam_permit.so\nsession required pam_permit.so\n")
        self.sent.add(self.password)

    def ids_of(self, user):
        uid, gid, home = self.ids[user]
        return uid, gid, home

    # --- configuration --------------------------------------------------

    def helper_conf(self, text):
        """Writes /etc/pam_totp/helper.conf (None: removes it)."""
        if text is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(HELPER_CONF)
            return
        tmp = HELPER_CONF + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.rename(tmp, HELPER_CONF)

    def service(self, name, auth_lines):
        self.write_pam(name, auth_lines.rstrip("\n") + "\n"
                       "account required pam_permit.so\nsession required pam_permit.so\n"
                       "password required pam_deny.so\n")

    def totp_line(self, options="", control="required"):
        return "auth %s %s%s" % (control, self.module, (" " + options) if options else "")

    # --- secrets and codes ----------------------------------------------

    def enroll_home(self, user):
        """A new secret in ~USER/.pam_totp (the user's, 0600): a new token,
        so every time step is fresh again."""
        uid, gid, home = self.ids_of(user)
        key = os.urandom(20)
        b32 = base64.b32encode(key).decode().rstrip("=")
        path = os.path.join(home, ".pam_totp")
        tmp = path + ".new"
        with open(tmp, "w") as f:
            f.write("version 1\nsecret %s\nalgorithm sha1\ndigits 6\nperiod %d\nenrolled %d\n"
                    "enrollment_id %s\n" % (b32, PERIOD, int(time.time()) - 3600, os.urandom(16).hex()))
        os.chown(tmp, uid, gid)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
        self.secrets[user] = b32
        self.last_step.pop(user, None)
        self.sent.add(b32)
        return b32

    def code(self, user, step):
        return W.totp(self.secrets[user], step)

    def good_code(self, user):
        """A code the module accepts now and that was never sent: the
        lowest step after the last one sent within now-1 .. now+1 (not
        now-1 in a step's last 3 s); a new secret when none is left."""
        t = time.time()
        now = int(t) // PERIOD
        low = now - 1 if (now + 1) * PERIOD - t > 3 else now
        step = max(low, self.last_step.get(user, low - 1) + 1)
        if step > now + 1:
            self.enroll_home(user)
            step = low
        self.last_step[user] = step
        c = self.code(user, step)
        self.sent.add(c)
        return c

    def wrong_code(self, user, serial=0):
        c = W.wrong_code(self.secrets[user], serial)
        self.sent.add(c)
        return c

    def account(self, user, state_dir=DEFAULT_STATE):
        return state_files.account_state(state_dir, user)

    # --- programs -------------------------------------------------------

    def _finish(self, mark, rc, out):
        self.log.flush()
        return Result(rc, out, self.log.since(mark))

    def pamtester(self, user, service, answers, target=None, how="setpriv", env=None, extra=(), timeout=15):
        """pamtester SERVICE TARGET authenticate run as USER (setpriv or
        runuser), ANSWERS one line each on standard input."""
        uid, gid, home = self.ids_of(user)
        if how == "runuser":
            argv = ["runuser", "-u", user, "--"]
        else:
            argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--init-groups"] + list(extra) + ["--"]
        argv += ["pamtester", service, target or user, "authenticate"]
        e = dict(ENV, HOME=home, USER=user, LOGNAME=user)
        e.update(env or {})
        mark = self.log.mark()
        try:
            p = subprocess.run(argv, input="".join(a + "\n" for a in answers), capture_output=True, text=True,
                               errors="replace", env=e, cwd=home, timeout=timeout, preexec_fn=W._default_signals)
            rc, out = p.returncode, p.stdout + p.stderr
        except subprocess.TimeoutExpired as t:
            rc, out = None, "(timed out) %s" % (t.output or "")
        return self._finish(mark, rc, out)

    def root_login(self, service, user, answers, timeout=15):
        """pam_login as root: the module runs in-process (euid 0), as under
        sshd, su or login."""
        mark = self.log.mark()
        try:
            p = subprocess.run([self.pam_login, self.pam_dir, service, user],
                               input="".join(a + "\n" for a in answers), capture_output=True, text=True,
                               errors="replace", env=ENV, timeout=timeout, preexec_fn=W._default_signals)
            rc, out = p.returncode, p.stdout + p.stderr
        except subprocess.TimeoutExpired as t:
            rc, out = None, "(timed out) %s" % (t.output or "")
        return self._finish(mark, rc, out)

    def reset(self, user):
        p = subprocess.run([self.admin, "--reset", user], capture_output=True, text=True, env=ENV, timeout=15)
        return p.returncode, p.stdout + p.stderr

    def run_helper(self, caller, helper=None, **kw):
        uid, gid, _ = self.ids_of(caller)
        return HelperRun(helper or self.helper, uid, gid, **kw)

    def direct(self, caller, user, answers, args=(), helper=None, timeout=10, on_ask=None, **kw):
        """One complete login through the helper, run directly by CALLER for
        USER: (status, helper run, log lines)."""
        mark = self.log.mark()
        run = self.run_helper(caller, helper=helper, **kw)
        try:
            run.send(request(user, args))
            run.converse(answers, timeout=timeout, on_ask=on_ask)
        except (TimeoutError, OSError) as e:
            run.error = str(e)
        status = run.finish(timeout)
        self.log.flush()
        run.log = self.log.since(mark)
        return status, run

    # --- observing ------------------------------------------------------

    def snapshot(self, *paths):
        """{path: (type, mode, uid, gid, content digest or link, mtime)} of
        everything under PATHS (not following links)."""
        out = {}
        for top in paths:
            if not os.path.lexists(top):
                continue
            for dirpath, dirnames, filenames in os.walk(top):
                for name in [""] + dirnames + filenames:
                    p = os.path.join(dirpath, name) if name else dirpath
                    if name == "" and dirpath != top:
                        continue
                    try:
                        st = os.lstat(p)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISLNK(st.st_mode):
                        what = "link:" + os.readlink(p)
                    elif stat.S_ISREG(st.st_mode):
                        with open(p, "rb") as f:
                            what = hashlib.sha256(f.read()).hexdigest()
                    else:
                        what = "dir" if stat.S_ISDIR(st.st_mode) else "other"
                    out[p] = (what, st.st_mode, st.st_uid, st.st_gid,
                              st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else None)
        return out

    @staticmethod
    def diff(before, after):
        changed = []
        for p in sorted(set(before) | set(after)):
            if before.get(p) != after.get(p):
                changed.append("%s %s" % (p, "added" if p not in before else
                                          "removed" if p not in after else "changed"))
        return changed

    # --- pseudo-terminals ------------------------------------------------

    @staticmethod
    def end(child):
        if child.isalive():
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            child.close(force=True)
        return child.exitstatus, child.signalstatus
