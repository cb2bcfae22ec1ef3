"""The world the security suite attacks, inside its private mount namespace.

ns_suite.py (started by run.py through `unshare --mount --pid`) builds it once:

    /etc        a tmpfs copy of the host's (each entry bind-mounted) in which
                passwd, shadow and group are the host's plus the test users,
                login.defs sets FAIL_DELAY 0 (su sleeps that long after each
                failure) and pam.d is ROOT/pam.d, whose `su` each test writes
    /dev        the same, with ROOT/log.sock (read by SyslogCatcher) as /dev/log
                and /dev/ptmx a link to pts/ptmx (pexpect's terminals)
    /run, /var/log  empty tmpfs (for su's login records)

The users exist only in there: one attacker (an ordinary account with its
home in ROOT) who knows every victim's password, and one victim per test.
The attacker runs the real setuid su from util-linux on a pseudo-terminal
(pexpect), under prlimit when asked, and sends signals to it with its own
identity (AttackerSignals: a child process that switched to the attacker's
uid). Standard library and python3-pexpect only.
"""

import base64
import contextlib
import ctypes
import ctypes.util
import io
import os
import re
import signal
import stat
import struct
import subprocess
import time

import pexpect

import otp_codes
import private_ns
from private_ns import MS_NODEV, MS_NOSUID, mount, replica, touch
from proc_tree import descendants, kill_descendants, proc_state  # noqa: F401  (also W.*: ns_suite.py, tests/locker)
from syslog_catcher import SyslogCatcher
from user_db import password_hash

PERIOD = 30
PASSWORD_PROMPT = r"Password: "
FORWARD_PROMPT = r"Password & verification code: "
CODE_PROMPT = r"Verification code: "
LOCK_TEXT = "Too many wrong codes"
MARK_CMD = "echo SU-OK-$((6*7))"
MARK = "SU-OK-42"
ATTACKER = "totpatk"
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def prctl(option, value):
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(%d): %s" % (option, os.strerror(err)))


# --- codes ------------------------------------------------------------------

def totp(secret_b32, step, digits=6):
    """RFC 6238 (HMAC-SHA1) for time step STEP; checked against oathtool once."""
    return otp_codes.totp(otp_codes.key_of(secret_b32), step, digits)


def oathtool_code(secret_b32, step):
    out = subprocess.run(["oathtool", "--totp", "-b", "-N", "@%d" % (step * PERIOD), secret_b32],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def now_step():
    return int(time.time()) // PERIOD


def wrong_code(secret_b32, serial=0):
    """A 6-digit code that matches no time step within 12 of now."""
    now = now_step()
    return otp_codes.code_not_in({totp(secret_b32, s) for s in range(now - 12, now + 14)}, serial)


def new_secret():
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


# --- syslog (SyslogCatcher: tests/lib/syslog_catcher.py) -------------------

def module_lines(lines):
    """The text after "pam_totp(...): " of each module line."""
    out = []
    for line in lines:
        m = re.search(r"pam_totp\([^)]*\): (.*)", line)
        if m:
            out.append(m.group(1).strip())
    return out


def classify(lines):
    """What the module's log lines say became of one answer:
    'accepted', 'wrong' (evaluated and refused), 'unchecked' (denied
    before the answer was looked at), 'locked', 'busy' (state lock not
    obtained), or 'unknown' (nothing said: it may have been evaluated)."""
    # "an earlier login was cut short ...; counted as a wrong code" is about
    # another attempt (settled by this one), not this answer.
    text = "\n".join(l for l in module_lines(lines) if "cut short" not in l)
    if "was not checked" in text:
        return "unchecked"
    if "accepted" in text:
        return "accepted"
    if re.search(r"wrong code|already used|wrong or used recovery|too many wrong codes", text):
        return "wrong"
    if "code entry locked" in text:
        return "locked"
    if "cannot use the state" in text:
        return "busy"
    return "unknown"


# --- processes (descendants, kill_descendants, proc_state: tests/lib/proc_tree.py)

def sig_ignored(pid, signum):
    """Whether process PID ignores signal SIGNUM (None if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigIgn:"):
                    return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    except OSError:
        return None
    return None


def _lock_id(st):
    return "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)


def _flocks():
    """[(pid, device:inode)] of the flock(2) locks held (not waited for)."""
    out = []
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if "->" in parts:
                continue   # a waiter
            if len(parts) >= 6 and parts[1] == "FLOCK":
                out.append((int(parts[4]), parts[5]))
    return out


def flock_holders(path):
    """The pids holding (not waiting for) a flock(2) on the file PATH."""
    try:
        want = _lock_id(os.stat(path))
    except FileNotFoundError:
        return []
    return [pid for pid, what in _flocks() if what == want]


def flocks_in(directory):
    """{pid: [names]} of the flocks held on DIRECTORY's entries (whatever
    the state files are called) and on DIRECTORY itself ('.')."""
    ids = {}
    for name in os.listdir(directory) + ["."]:
        with contextlib.suppress(OSError):
            ids[_lock_id(os.stat(os.path.join(directory, name)))] = name
    held = {}
    for pid, what in _flocks():
        if what in ids:
            held.setdefault(pid, []).append(ids[what])
    return held


def _default_signals():
    """In the child before exec: the default action for every signal
    Python ignores (SIGXFSZ, SIGPIPE) and an empty mask, as a shell gives."""
    for sig in (signal.SIGXFSZ, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


class AttackerSignals:
    """Sends signals with the attacker's identity (as the user who started
    su may): a forked child that dropped to the attacker's uid and kills
    on request, so that a signal costs one pipe round trip."""

    def __init__(self, uid, gid):
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                os.close(self.req_w)
                os.close(self.rep_r)
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                while True:
                    req = os.read(req_r, 8)
                    if len(req) != 8:
                        break
                    target, sig = struct.unpack("ii", req)
                    try:
                        os.kill(target, sig)
                        res = 0
                    except OSError as e:
                        res = e.errno
                    os.write(rep_w, struct.pack("i", res))
            except BaseException:  # pylint: disable=broad-except
                code = 1
            os._exit(code)
        os.close(req_r)
        os.close(rep_w)
        self.pid = pid

    def kill(self, target, sig):
        """0, or the errno the attacker's kill(2) got."""
        os.write(self.req_w, struct.pack("ii", target, sig))
        rep = os.read(self.rep_r, 4)
        if len(rep) != 4:
            raise RuntimeError("the attacker's signal sender died")
        return struct.unpack("i", rep)[0]

    def close(self):
        with contextlib.suppress(OSError):
            os.close(self.req_w)
        with contextlib.suppress(OSError):
            os.close(self.rep_r)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


class SuResult:
    def __init__(self):
        self.pid = None
        self.stage = "start"
        self.code_prompt = False   # the module asked for the code
        self.code_sent = False
        self.ok = False            # su ran the command as the victim
        self.lock_msg = False      # the lockout message was shown
        self.timed_out = False
        self.exitstatus = None
        self.signalstatus = None
        self.elapsed = None        # from sending the answer to su's exit
        self.ended = None          # time.monotonic() when su's end was seen
        self.out = ""
        self.log = []              # every syslog line during the attempt
        self.xfsz_ignored = None
        self.note = ""

    @property
    def kind(self):
        return classify(self.log)

    def describe(self):
        return ("stage %s, ok %s, exit %s, signal %s, %s; output %r; module log %s"
                % (self.stage, self.ok, self.exitstatus, self.signalstatus,
                   "timed out" if self.timed_out else "ended",
                   self.out[-300:], module_lines(self.log) or "(none)"))


class SuSession:
    """One `su VICTIM -c MARK_CMD` run by the attacker on a pty, driven
    step by step (start, password, answer, finish)."""

    def __init__(self, world, victim, fsize=None, timeout=10):
        self.world = world
        self.res = SuResult()
        self.mark = world.log.mark()
        self.transcript = io.StringIO()
        uid, gid, home = world.ids[ATTACKER]
        argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--"]
        if fsize is not None:
            argv += ["prlimit", "--fsize=%d:%d" % (fsize, fsize), "--"]
        argv += ["su", victim, "-c", MARK_CMD]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home, "USER": ATTACKER,
               "LOGNAME": ATTACKER, "TERM": "dumb", "LANG": "C"}
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=home, encoding="utf-8",
                                   codec_errors="replace", timeout=timeout,
                                   preexec_fn=_default_signals)
        # No pauses: pexpect waits 50 ms before each send and 100 ms at close by default.
        self.child.delaybeforesend = None
        self.child.delayafterclose = 0
        self.child.delayafterterminate = 0
        self.child.ptyproc.delayafterclose = 0
        self.child.ptyproc.delayafterterminate = 0
        self.child.logfile_read = self.transcript
        self.res.pid = self.child.pid
        world.sessions.append(self)

    def password(self, password, forward=None):
        """Answers the password prompt (with forward_pass: the one prompt,
        with password+code). True when the code prompt followed."""
        res, child = self.res, self.child
        res.stage = "password prompt"
        child.expect(FORWARD_PROMPT if forward is not None else PASSWORD_PROMPT)
        res.xfsz_ignored = sig_ignored(res.pid, signal.SIGXFSZ)
        if forward is not None:
            child.sendline(password + forward)
            res.code_sent = True
            return False
        child.sendline(password)
        res.stage = "code prompt"
        i = child.expect([CODE_PROMPT, LOCK_TEXT, MARK, pexpect.EOF])
        if i == 0:
            res.code_prompt = True
            return True
        if i == 1:
            res.lock_msg = True
        elif i == 2:
            res.ok = True
        res.stage = "no code prompt"
        return False

    def answer(self, code):
        self.child.sendline(code)
        self.t0 = time.monotonic()
        self.res.code_sent = True
        self.res.stage = "answered"

    def finish(self, timeout=None):
        """Waits for su to end; returns the result with its log lines."""
        res, child = self.res, self.child
        try:
            if not res.timed_out and (child.isalive() or not child.eof()):
                while True:
                    i = child.expect([MARK, LOCK_TEXT, pexpect.EOF],
                                     timeout=timeout if timeout is not None else child.timeout)
                    if i == 0:
                        res.ok = True
                    elif i == 1:
                        res.lock_msg = True
                    else:
                        break
        except pexpect.TIMEOUT:
            res.timed_out = True
        except pexpect.EOF:
            pass
        res.ended = time.monotonic()
        if getattr(self, "t0", None) is not None:
            res.elapsed = res.ended - self.t0
        self.close()
        self.world.log.flush()
        res.log = self.world.log.since(self.mark)
        return res

    def close(self):
        """Reaps su (SIGKILL if it is still there after 2 s, or at once when
        it timed out) and records how it ended."""
        res, child = self.res, self.child
        deadline = time.monotonic() + (0 if res.timed_out else 2.0)
        while child.isalive() and time.monotonic() < deadline:
            time.sleep(0.001)
        if child.isalive():
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                child.wait()
        with contextlib.suppress(Exception):
            child.close(force=True)
        res.exitstatus, res.signalstatus = child.exitstatus, child.signalstatus
        res.out = self.transcript.getvalue().replace(self.world.password, "<password>")
        if res.stage == "answered":
            res.stage = "done"
        if self in self.world.sessions:
            self.world.sessions.remove(self)


class World:
    def __init__(self, root, module, enroll, data):
        self.root = root
        self.module = module
        self.enroll_path = enroll
        self.data = data
        self.password = "Sec-" + os.urandom(9).hex()
        self.ids = {}
        self.secrets = {}          # victim -> base32 secret (files written here)
        self.sessions = []
        self.log = None
        self.signals = None
        self.pam_dir = self.path("pam.d")
        self.secret_dir = self.path("secrets")   # root's central secrets, 0755

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    # --- the namespace --------------------------------------------------

    def build(self, victims):
        """Users, /etc, /dev/log, /run and /var/log; then the attacker's signal sender."""
        if not private_ns.enter("SECURITY_HOST_MNTNS", "tests/security"):
            raise RuntimeError("not in a private mount namespace")
        for d in ("etc", "ns-etc", "ns-dev", "home", "pam.d", "secrets"):
            os.mkdir(self.path(d), 0o755)
        self.log = SyslogCatcher(self.path("log.sock"), "security-suite")
        with open("/etc/passwd") as f:
            passwd = f.read()
        with open("/etc/group") as f:
            group = f.read()
        with open("/etc/shadow") as f:
            shadow = f.read()
        uids = {int(l.split(":")[2]) for l in passwd.splitlines() if l.count(":") >= 6}
        gids = {int(l.split(":")[2]) for l in group.splitlines() if l.count(":") >= 3}
        names = {l.split(":")[0] for l in passwd.splitlines()} | {l.split(":")[0] for l in group.splitlines()}
        hashed = password_hash(self.password)
        today = int(time.time() // 86400)
        add_passwd, add_group, add_shadow = [], [], []
        # An id range of its own (e2e counts down from 64990), though each
        # namespace's users are its own.
        next_id = 64890
        for name in [ATTACKER] + list(victims):
            if name in names:
                raise RuntimeError("user %s already exists on this host" % name)
            while next_id in uids or next_id in gids:
                next_id -= 1
            uid = gid = next_id
            uids.add(uid)
            gids.add(gid)
            home = self.path("home", name)
            os.mkdir(home, 0o755)
            os.chown(home, uid, gid)
            self.ids[name] = (uid, gid, home)
            add_passwd.append("%s:x:%d:%d:pam_totp security:%s:/bin/sh\n" % (name, uid, gid, home))
            add_group.append("%s:x:%d:\n" % (name, gid))
            add_shadow.append("%s:%s:%d:0:99999:7:::\n" % (name, hashed, today))

        def write_like(original, name, text):
            copy = self.path("etc", name)
            with open(copy, "w") as f:
                f.write(text)
            st = os.stat(original)
            os.chown(copy, st.st_uid, st.st_gid)
            os.chmod(copy, st.st_mode & 0o7777)
            return copy

        def joined(text, extra):
            return text + ("" if text.endswith("\n") or not text else "\n") + "".join(extra)

        etc = {"passwd": write_like("/etc/passwd", "passwd", joined(passwd, add_passwd)),
               "group": write_like("/etc/group", "group", joined(group, add_group)),
               "shadow": write_like("/etc/shadow", "shadow", joined(shadow, add_shadow))}
        # su sleeps FAIL_DELAY seconds after each failure: none here.
        defs = ""
        if os.path.exists("/etc/login.defs"):
            with open("/etc/login.defs") as f:
                defs = "".join(l for l in f if not l.strip().startswith("FAIL_DELAY"))
        etc["login.defs"] = write_like("/etc/login.defs" if os.path.exists("/etc/login.defs") else "/etc/passwd",
                                       "login.defs", joined(defs, ["FAIL_DELAY 0\n"]))
        self.write_pam("other", "auth required pam_deny.so\naccount required pam_deny.so\n"
                                "password required pam_deny.so\nsession required pam_deny.so\n")
        self.write_pam("su", "auth required pam_deny.so\n")
        etc["pam.d"] = self.pam_dir
        replica("/etc", self.path("ns-etc"), etc, "security")
        # pexpect opens its pseudo-terminals in here: /dev/ptmx must be the
        # devpts instance's own (a bind-mounted device node finds no "pts"
        # beside it and fails), as in a container.
        os.symlink("pts/ptmx", self.path("ptmx"))
        replica("/dev", self.path("ns-dev"), {"log": self.path("log.sock"), "ptmx": self.path("ptmx")},
                "security")
        mount("security-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        touch("/run/utmp", 0o664)
        mount("security-log", "/var/log", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m")
        uid, gid, _ = self.ids[ATTACKER]
        self.signals = AttackerSignals(uid, gid)

    def close(self):
        for s in list(self.sessions):
            s.close()
        if self.signals:
            self.signals.close()
        kill_descendants()
        if self.log:
            self.log.close()

    # --- configuration --------------------------------------------------

    def write_pam(self, service, text):
        p = os.path.join(self.pam_dir, service)
        with open(p + ".tmp", "w") as f:
            f.write(text)
        os.chmod(p + ".tmp", 0o644)
        os.rename(p + ".tmp", p)

    def su_stack(self, auth_lines):
        self.write_pam("su", auth_lines.rstrip("\n") + "\n"
                       "account required pam_permit.so\n"
                       "session required pam_permit.so\n"
                       "password required pam_deny.so\n")

    def module_line(self, state_dir, extra="", control="required", secret=None):
        return "auth %s %s secret=%s state_dir=%s%s" % (
            control, self.module, secret or os.path.join(self.secret_dir, "%u"), state_dir,
            (" " + extra) if extra else "")

    def write_secret(self, victim, secret=None):
        """A central secret file (root's, 0600) without a confirmation step."""
        secret = secret or new_secret()
        path = os.path.join(self.secret_dir, victim)
        with open(path, "w") as f:
            f.write("version 1\nsecret %s\nalgorithm sha1\ndigits 6\nperiod %d\n"
                    "enrolled %d\nenrollment_id %s\n"
                    % (secret, PERIOD, int(time.time()) - 3600, os.urandom(16).hex()))
        os.chmod(path, 0o600)
        self.secrets[victim] = secret
        return secret

    def state_dir(self, name):
        """A new state directory (root's, 0700) for one test."""
        d = self.path("state-" + name)
        os.mkdir(d, 0o700)
        return d

    @staticmethod
    def wipe(state_dir):
        for name in os.listdir(state_dir):
            os.unlink(os.path.join(state_dir, name))

    # --- running su -----------------------------------------------------

    def su(self, victim, code, fsize=None, password=None, after_answer=None, before_answer=None,
           timeout=10, finish_timeout=None):
        """One complete su attempt: password, then CODE at the code prompt;
        AFTER_ANSWER(session) runs right after the answer is sent (signals),
        BEFORE_ANSWER(session) while the code prompt is open."""
        s = SuSession(self, victim, fsize=fsize, timeout=timeout)
        try:
            if s.password(self.password if password is None else password):
                if before_answer:
                    before_answer(s)
                s.answer(code)
                if after_answer:
                    after_answer(s)
        except pexpect.TIMEOUT:
            s.res.timed_out = True
        except pexpect.EOF:
            pass
        return s.finish(timeout=finish_timeout)

    def su_forward(self, victim, password, code, timeout=10):
        """forward_pass: password and code typed together at one prompt."""
        s = SuSession(self, victim, timeout=timeout)
        try:
            s.password(password, forward=code)
            s.t0 = time.monotonic()
        except pexpect.TIMEOUT:
            s.res.timed_out = True
        except pexpect.EOF:
            pass
        return s.finish()

    # --- root's totp-enroll ---------------------------------------------

    def enroll(self, args, code_for=None, answer_timeout=10, total_timeout=20):
        """Runs totp-enroll ARGS as root through pipes. When it prints a URI,
        answers the current code of that secret (CODE_FOR(secret) may
        choose another). Returns (exit status or None on timeout, output, secret)."""
        from pexpect import popen_spawn  # pylint: disable=import-outside-toplevel
        p = popen_spawn.PopenSpawn([self.enroll_path] + args, timeout=answer_timeout, encoding="utf-8",
                                   codec_errors="replace", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                                "LANG": "C", "HOME": "/root"})
        out = io.StringIO()
        p.logfile_read = out
        secret = None
        status = None
        try:
            i = p.expect([r"URI: otpauth://\S*[?&]secret=([A-Z2-7]+)", pexpect.EOF])
            if i == 0:
                secret = p.match.group(1)
                p.expect("Enter the code from your app: ")
                code = code_for(secret) if code_for else oathtool_code(secret, now_step())
                p.sendline(code)
                p.sendeof()
            p.expect(pexpect.EOF, timeout=total_timeout)
            status = p.wait()
        except pexpect.TIMEOUT:
            status = None
        finally:
            if p.proc.poll() is None:
                p.kill(signal.SIGKILL)
                p.proc.wait()
        return status, out.getvalue(), secret


RECOVERY_RE = re.compile(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b")


def counted(st):
    """Wrong answers a state holds against its account: those counted
    since the last success or lockout, plus an unsettled charge (which the
    next login counts)."""
    if st is None:
        return 0
    return st["since_success"] + (1 if st["charge"] is not None else 0)


def state_dir_leftovers(state_dir):
    """(files that may not be there, the listing): only u-NAME files, t-ID
    claims (symbolic links) and at most one n-u-NAME (a growth cut short)
    per account."""
    bad = []
    names = sorted(os.listdir(state_dir))
    accounts = {n for n in names if n.startswith("u-")}
    for n in names:
        p = os.path.join(state_dir, n)
        st = os.lstat(p)
        if n.startswith("t-") and re.fullmatch(r"t-[0-9a-f]{32}", n) and stat.S_ISLNK(st.st_mode):
            continue
        if n.startswith("u-") and stat.S_ISREG(st.st_mode):
            continue
        if n.startswith("n-") and stat.S_ISREG(st.st_mode) and n[2:] in accounts:
            continue
        bad.append(n)
    return bad, names

