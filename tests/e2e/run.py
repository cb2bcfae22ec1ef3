#!/usr/bin/python3
"""End-to-end tests of pam_totp: a real sshd with a real ssh client, and a
console login(1) on a pseudo-terminal.

    TOTP_ENROLL=/abs/totp-enroll PAM_TOTP_MODULE=/abs/pam_totp.so \
    TESTS_DATA=tests/data /usr/bin/python3 tests/e2e/run.py

Needs root (it starts sshd and login).  The host is never changed: every
sshd, login and totp-enroll runs in a private mount namespace (util-linux
unshare) where ns_exec.py puts the test's passwd, shadow, group and pam.d in
place of the host's (in a tmpfs copy of /etc) and tmpfs over /run and
/var/log.  The test users and groups
exist only in there; their homes, the host keys, the module's state_dir and
every log are in one temporary directory, removed at the end.  The ssh
client runs outside, on 127.0.0.1 (or from 127.0.0.2, a second loopback
address), and answers prompts through SSH_ASKPASS, which logs every prompt
it was shown.  exemptions.py runs the exemption recipes of README.md and
pam_totp(8) through the same sshd, grace.py the grace period from two
addresses and audit_log.py the fail2ban filter over every line the module
wrote in the run.

Every process started here is killed at the end, also on failure or Ctrl-C:
this script is the subreaper of all it starts, so cleanup finds them all by
parent links (and never touches anything else); should the script itself be
killed with SIGKILL, setpriv's --pdeathsig takes sshd and login with it.
The last line is "N passed, M failed[, K skipped]"; the exit status is 1
when anything failed.
"""

import base64
import hashlib
import hmac
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import state_files  # noqa: E402  (the reader of the module's state files)
from ns_runner import file_digest  # noqa: E402
from proc_tree import become_subreaper, descendants, kill_descendants  # noqa: E402
from suite_run import Interrupted, Results, on_signal, uninterrupted  # noqa: E402
from syslog_catcher import SyslogCatcher  # noqa: E402
from user_db import password_hash  # noqa: E402
import exemptions  # noqa: E402  (the PAM-native exemption recipes, beside this file)
import grace  # noqa: E402  (grace_period= from two addresses)
import audit_log  # noqa: E402  (the audit lines and the fail2ban filter; runs last)

NS_EXEC = os.path.join(HERE, "ns_exec.py")
PYTHON = "/usr/bin/python3"

USER = "totpuser"        # enrolled (secret in ~/.pam_totp)
NOUSER = "totpnone"      # never enrolled
MEMBER = "totpmember"    # enrolled, in both GROUPS (the exemption tests)
USERS = (USER, NOUSER, MEMBER)
# The groups of the exemption recipes (exemptions.py), MEMBER their only member.
EXEMPT_GROUP = "e2e-totp-exempt"
PASSWORD_GROUP = "e2e-ssh-password"
GROUPS = (EXEMPT_GROUP, PASSWORD_GROUP)
REMOTE_CMD = "echo E2E-$((6*7))"
REMOTE_OUT = "E2E-42"
PERIOD = 30
RECOVERY_RE = re.compile(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b")
# Files whose content must be the same after the run as before it.
# Files whose content must be the same after the run as before it. The
# user database is not among them: other suites (tests/cli, tests/pam) add
# and remove users on the host while `make -j2 check` runs this one; for it
# the check is that none of this suite's users is there (USER_DATABASE).
WATCHED = ["/etc/pam.d/sshd", "/etc/pam.d/login", "/etc/pam.d/other",
           "/run/utmp", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog"]
USER_DATABASE = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"]

ALL_TESTS = ["password_then_code", "pubkey_then_code", "recovery_code",
             "unenrolled_user", "console_login"] + exemptions.ALL_TESTS + grace.ALL_TESTS \
    + audit_log.ALL_TESTS   # last: it reads the lines of all the others


def names_in(path):
    """The first fields (user or group names) of a passwd-style file."""
    try:
        with open(path) as f:
            return {line.split(":", 1)[0] for line in f if ":" in line}
    except OSError:
        return set()


class PortTaken(Exception):
    pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_id(taken, start=64990, stop=60000):
    for n in range(start, stop, -1):
        if n not in taken:
            return n
    raise RuntimeError("no free uid/gid")


class Env:
    """The temporary world of one run: users, homes, keys, processes."""

    def __init__(self, module, enroll):
        self.module = module
        self.enroll = enroll
        self.root = tempfile.mkdtemp(prefix="pam_totp-e2e.")
        # sshd's StrictModes and the module's parent-directory check want
        # no group/world-writable directory on the way to a home.
        os.chmod(self.root, 0o755)
        self.procs = []
        self.serial = 0
        self.state_dir = os.path.join(self.root, "state")  # the module makes it
        self.log = None
        self.password = "E2e-" + os.urandom(9).hex()
        self.secret = None
        self.recovery = []
        self.last_step = 0
        self.secrets = {}        # every enrolled user's secret (MEMBER's too)
        self.sent = set()        # every code and recovery code typed
        self.files = []

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    # --- the world ------------------------------------------------------

    def setup(self):
        self.log = SyslogCatcher(self.path("log.sock"))
        os.mkdir(self.path("etc"), 0o755)
        os.mkdir(self.path("ns-dev"), 0o755)   # mount points used in the namespaces
        os.mkdir(self.path("ns-etc"), 0o755)
        os.mkdir(self.path("home"), 0o755)
        with open("/etc/passwd") as f:
            passwd = f.read()
        with open("/etc/group") as f:
            group = f.read()
        with open("/etc/shadow") as f:
            shadow = f.read()
        uids = {int(l.split(":")[2]) for l in passwd.splitlines() if l.count(":") >= 6}
        gids = {int(l.split(":")[2]) for l in group.splitlines() if l.count(":") >= 3}
        names = {l.split(":")[0] for l in passwd.splitlines()}
        for name in USERS:
            if name in names:
                raise RuntimeError("user %s already exists on this host" % name)
        group_names = {l.split(":")[0] for l in group.splitlines()}
        for name in GROUPS:
            if name in group_names:
                raise RuntimeError("group %s already exists on this host" % name)
        self.ids = {}
        hashed = password_hash(self.password)
        today = int(time.time() // 86400)
        add_passwd, add_group, add_shadow = [], [], []
        for name in USERS:
            uid = free_id(uids)
            uids.add(uid)
            gid = free_id(gids, uid)
            gids.add(gid)
            home = self.path("home", name)
            os.mkdir(home, 0o755)
            os.chown(home, uid, gid)
            self.ids[name] = (uid, gid, home)
            add_passwd.append("%s:x:%d:%d:pam_totp e2e:%s:/bin/sh\n" % (name, uid, gid, home))
            add_group.append("%s:x:%d:\n" % (name, gid))
            add_shadow.append("%s:%s:%d:0:99999:7:::\n" % (name, hashed, today))
        for name in GROUPS:
            gid = free_id(gids)
            gids.add(gid)
            add_group.append("%s:x:%d:%s\n" % (name, gid, MEMBER))

        def write_like(original, text):
            copy = self.path("etc", os.path.basename(original))
            with open(copy, "w") as f:
                f.write(text)
            st = os.stat(original)
            os.chown(copy, st.st_uid, st.st_gid)
            os.chmod(copy, st.st_mode & 0o7777)

        def joined(text, extra):
            return text + ("" if text.endswith("\n") or not text else "\n") + "".join(extra)

        write_like("/etc/passwd", joined(passwd, add_passwd))
        write_like("/etc/group", joined(group, add_group))
        write_like("/etc/shadow", joined(shadow, add_shadow))

        # The ssh client's key, in every user's authorized_keys.
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e-host",
                        "-f", self.path("host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e-client",
                        "-f", self.path("client_key")], check=True)
        for name in USERS:
            uid, gid, home = self.ids[name]
            ssh_dir = os.path.join(home, ".ssh")
            os.mkdir(ssh_dir, 0o700)
            shutil.copy(self.path("client_key.pub"), os.path.join(ssh_dir, "authorized_keys"))
            os.chmod(os.path.join(ssh_dir, "authorized_keys"), 0o600)
            for p in (ssh_dir, os.path.join(ssh_dir, "authorized_keys")):
                os.chown(p, uid, gid)

        askpass = self.path("askpass")
        with open(askpass, "w") as f:
            f.write('#!/bin/sh\n'
                    '# Logs the prompt, answers from the environment.\n'
                    'printf "%s\\n" "$1" | tr "\\n" " " >>"$E2E_ASKPASS_LOG"\n'
                    'echo >>"$E2E_ASKPASS_LOG"\n'
                    'case "$1" in\n'
                    '*assword*) printf "%s\\n" "$E2E_PASSWORD" ;;\n'
                    '*erification*) printf "%s\\n" "$E2E_CODE" ;;\n'
                    '*) exit 1 ;;\n'
                    'esac\n')
        os.chmod(askpass, 0o755)

    # --- processes in namespaces ----------------------------------------

    def pam_dir(self, name, services):
        d = self.path("pam-" + name)
        os.mkdir(d, 0o755)
        services = dict(services)
        services.setdefault("other", "auth required pam_deny.so\naccount required pam_deny.so\n"
                                     "password required pam_deny.so\nsession required pam_deny.so\n")
        for service, text in services.items():
            with open(os.path.join(d, service), "w") as f:
                f.write(text)
            os.chmod(os.path.join(d, service), 0o644)
        return d

    def ns_command(self, pamd, command):
        # ns_exec.py refuses to mount unless its namespace is not this one.
        os.environ["E2E_HOST_MNTNS"] = os.readlink("/proc/self/ns/mnt")
        # --pdeathsig: should this script be killed outright (SIGKILL, no
        # cleanup), sshd and login still die with it.
        return (["setpriv", "--pdeathsig", "KILL",
                 "unshare", "--mount", "--propagation", "private", PYTHON, NS_EXEC,
                 self.root, pamd, self.path("log.sock"), "--"] + command)

    def popen(self, pamd, command, **kw):
        p = subprocess.Popen(self.ns_command(pamd, command), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        # Kills and reaps every process this run started and all their
        # descendants (this process is their subreaper, so none escapes by
        # being orphaned; and nothing else on the machine is touched).
        kill_descendants(rounds=100, pause=0.02, popens=self.procs)
        for f in self.files:
            f.close()
        if self.log:
            self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- enrollment and codes -------------------------------------------

    def enroll_user(self, user=USER):
        """totp-enroll --user USER in a namespace, answering with the code
        of the secret it printed. For USER the secret, step and recovery
        codes become this run's (self.secret...); every user's secret and
        enrollment step go into self.secrets. Returns (whether the secret
        file was written, what totp-enroll printed after the code)."""
        pamd = self.pam_dir("enroll-" + user, {})
        p = self.popen(pamd, [self.enroll, "--user", user, "--qr", "none"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
        try:
            secret = None
            seen = []
            for line in p.stdout:
                seen.append(line)
                m = re.match(r"URI: otpauth://\S*[?&]secret=([A-Z2-7]+)", line.strip())
                if m:
                    secret = m.group(1)
                    break
            if secret is None:
                raise RuntimeError("totp-enroll printed no URI:\n" + "".join(seen))
            step = int(time.time()) // PERIOD
            p.stdin.write(self.code_for(secret, step) + "\n")
            p.stdin.close()
            rest = p.stdout.read()
            rc = p.wait(30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if rc != 0:
            raise RuntimeError("totp-enroll exit %d:\n%s%s" % (rc, "".join(seen), rest))
        self.secrets[user] = (secret, step)
        if user == USER:
            self.secret = secret
            self.last_step = step
            self.recovery = RECOVERY_RE.findall(rest)
        home = self.ids[user][2]
        return os.path.exists(os.path.join(home, ".pam_totp")), rest

    @staticmethod
    def code_for(secret, step):
        out = subprocess.run(["oathtool", "--totp", "-b", "-N", "@%d" % (step * PERIOD), secret],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def fresh_code(self, window=1):
        """A code for a time step after every one used before (and after the
        enrollment's, which the secret file records as confirmed) and inside
        the module's window. The tests use one step after the enrollment's
        with window=1 and at most two more with window=3, so there always is
        one: nothing here waits for time."""
        return self.fresh_code_after(self.secret, self.last_step, window)

    def fresh_code_after(self, secret, last_step, window):
        """(code, step) of SECRET for the first step after LAST_STEP that is
        not before now and within WINDOW steps of now."""
        now = int(time.time()) // PERIOD
        step = max(now, last_step + 1)
        if step > now + window:
            raise RuntimeError("no unused step within window=%d of now (step %d, last used %d)"
                               % (window, now, last_step))
        return self.code_for(secret, step), step

    # --- the module's state (pam_totp(8), FILES) -------------------------

    def token_id(self):
        key = base64.b32decode(self.secret + "=" * (-len(self.secret) % 8))
        return state_files.token_id(key)

    def recovery_tag(self, code):
        """The tag a used recovery code is remembered by (core/otp/recovery.h)."""
        key = base64.b32decode(self.secret + "=" * (-len(self.secret) % 8))
        canonical = code.replace("-", "").upper().encode("ascii")
        return hmac.new(key, b"pam_totp recovery tag v1\0" + canonical, hashlib.sha256).hexdigest()[:16]

    def state(self):
        """(the user's account state, the token's record, the claims)."""
        claims = state_files.claims(self.state_dir)
        return (state_files.account_state(self.state_dir, USER),
                state_files.token_record(self.state_dir, self.token_id()), claims)

    def wrong_code(self, secret=None):
        """A code that none of the steps near now gives (USER's secret, or SECRET)."""
        secret = secret or self.secret
        now = int(time.time()) // PERIOD
        near = {self.code_for(secret, s) for s in range(now - 3, now + 4)}
        for candidate in ("000000", "123456", "999999", "314159"):
            if candidate not in near:
                return candidate
        raise RuntimeError("unlucky secret")

    # --- sshd and ssh ---------------------------------------------------

    def start_sshd(self, name, methods, auth_lines, services=None, config_tail=""):
        """Starts sshd in a namespace; returns (port, process, its log).
        AUTH_LINES are the auth part of its pam.d/sshd; SERVICES more files
        of that pam.d (a common-auth to include); CONFIG_TAIL is appended to
        sshd_config (Match blocks). The password method (PasswordAuthentication)
        is on when METHODS names it."""
        for attempt in range(3):
            try:
                return self.start_sshd_once(name, methods, auth_lines, attempt,
                                            services or {}, config_tail)
            except PortTaken:
                continue
        raise RuntimeError("sshd %s: no free port after 3 tries" % name)

    def start_sshd_once(self, name, methods, auth_lines, attempt, services, config_tail):
        name_n = "%s-%d" % (name, attempt)
        pam = ("%s\n"
               "account required pam_unix.so\n"
               "session required pam_unix.so\n"
               "password required pam_deny.so\n" % auth_lines)
        pamd = self.pam_dir(name_n, dict(services, sshd=pam))
        password_method = "password" in re.split(r"[ ,]", methods)
        port = free_port()
        config = self.path("sshd_config-" + name_n)
        with open(config, "w") as f:
            f.write("Port %d\n"
                    "ListenAddress 127.0.0.1\n"
                    "HostKey %s\n"
                    "PidFile %s\n"
                    "UsePAM yes\n"
                    "KbdInteractiveAuthentication yes\n"
                    "PasswordAuthentication %s\n"
                    "PubkeyAuthentication yes\n"
                    "HostbasedAuthentication no\n"
                    "AuthenticationMethods %s\n"
                    "AuthorizedKeysFile .ssh/authorized_keys\n"
                    "StrictModes yes\n"
                    "PermitRootLogin no\n"
                    "AllowUsers %s\n"
                    "MaxAuthTries 6\n"
                    "LoginGraceTime 60\n"
                    "UseDNS no\n"
                    "PrintMotd no\n"
                    "PrintLastLog no\n"
                    "X11Forwarding no\n"
                    "AllowTcpForwarding no\n"
                    "PermitTTY no\n"
                    "LogLevel VERBOSE\n"
                    "%s"
                    % (port, self.path("host_key"), self.path("sshd-%s.pid" % name_n),
                       "yes" if password_method else "no", methods, " ".join(USERS),
                       config_tail))
        errlog = open(self.path("sshd-%s.log" % name_n), "w+")
        self.files.append(errlog)
        p = self.popen(pamd, ["/usr/sbin/sshd", "-D", "-e", "-f", config],
                       stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog)
        deadline = time.time() + 15
        while time.time() < deadline:
            errlog.seek(0)
            if "Server listening on" in errlog.read():
                return port, p, errlog
            if p.poll() is not None:
                break
            time.sleep(0.05)
        errlog.seek(0)
        text = errlog.read()
        if "Address already in use" in text:
            raise PortTaken()   # another program took the port meanwhile
        raise RuntimeError("sshd %s did not start:\n%s" % (name, text))

    def ssh(self, port, user, password="", code="", key=False, methods="keyboard-interactive",
            source=None):
        """Runs REMOTE_CMD over ssh, from the local address SOURCE (a second
        loopback address such as 127.0.0.2) when given; returns (exit status,
        stdout+stderr, the prompts askpass was shown). The password method
        is offered only when METHODS names it."""
        self.serial += 1
        alog = self.path("askpass-%d.log" % self.serial)
        open(alog, "w").close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
        if code:
            self.sent.add(code)
        env.update(SSH_ASKPASS=self.path("askpass"), SSH_ASKPASS_REQUIRE="force",
                   DISPLAY=":e2e", E2E_ASKPASS_LOG=alog,
                   E2E_PASSWORD=password, E2E_CODE=code)
        cmd = ["setpriv", "--pdeathsig", "KILL",
               "ssh", "-F", "/dev/null", "-T",
               "-o", "BatchMode=no", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
               "-o", "UpdateHostKeys=no", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
               "-o", "NumberOfPasswordPrompts=1", "-o", "ControlPath=none",
               "-o", "PreferredAuthentications=" + methods,
               "-o", "PasswordAuthentication=" + ("yes" if "password" in methods.split(",") else "no"),
               "-o", "KbdInteractiveAuthentication=yes",
               "-o", "IdentitiesOnly=yes"]
        if key:
            cmd += ["-o", "PubkeyAuthentication=yes", "-i", self.path("client_key")]
        else:
            cmd += ["-o", "PubkeyAuthentication=no"]
        if source:
            cmd += ["-b", source]
        cmd += ["-p", str(port), "%s@127.0.0.1" % user, REMOTE_CMD]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env,
                             start_new_session=True)
        self.procs.append(p)
        try:
            out, _ = p.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            out += "\n[ssh timed out]"
        with open(alog) as f:
            prompts = [l.strip() for l in f if l.strip()]
        return p.returncode, out, prompts


def kinds(prompts):
    """The prompts as a list of 'password' / 'code' / 'other'."""
    result = []
    for p in prompts:
        if "assword" in p:
            result.append("password")
        elif "erification" in p:
            result.append("code")
        else:
            result.append("other")
    return result


def logged_in(rc, out):
    return rc == 0 and REMOTE_OUT in out


class Tests:
    def __init__(self, env, results):
        self.env = env
        self.r = results

    def module_line(self, extra=""):
        return "auth required %s state_dir=%s%s" % (
            self.env.module, self.env.state_dir, (" " + extra) if extra else "")

    def explain(self, rc, out, prompts, sshd_log=None, mark=None):
        text = "exit %s, prompts %s, output %r" % (rc, prompts, out.strip()[-400:])
        if mark is not None:
            text += "\n  syslog: " + "\n  syslog: ".join(self.env.log.since(mark))
        if sshd_log is not None:
            sshd_log.seek(0)
            text += "\n  sshd: " + "\n  sshd: ".join(sshd_log.read().splitlines()[-15:])
        return text

    # 1 ------------------------------------------------------------------
    def password_then_code(self):
        env, r = self.env, self.r
        port, _, slog = env.start_sshd(
            "pwcode", "keyboard-interactive",
            "auth requisite pam_unix.so nodelay\n" + self.module_line())
        self.pwcode_port, self.pwcode_log = port, slog

        # The code typed to confirm the enrollment was on the enrolling
        # screen: it does not log in (finding 7 of issue 12).
        mark = env.log.mark()
        rc, out, prompts = env.ssh(port, USER, env.password, env.code_for(env.secret, env.last_step))
        r.check("ssh with the enrollment's confirmation code: refused",
                rc != 0 and REMOTE_OUT not in out and kinds(prompts) == ["password", "code"],
                self.explain(rc, out, prompts, slog, mark))

        code, step = env.fresh_code()
        mark = env.log.mark()
        rc, out, prompts = env.ssh(port, USER, env.password, code)
        if r.check("ssh password + code: logged in, command ran", logged_in(rc, out),
                   self.explain(rc, out, prompts, slog, mark)):
            env.last_step = step
        r.check("ssh password + code: asked password then code",
                kinds(prompts) == ["password", "code"], str(prompts))
        if os.path.isdir(env.state_dir):
            st = os.stat(env.state_dir)
            r.check("state_dir created root-owned 0700",
                    st.st_uid == 0 and (st.st_mode & 0o777) == 0o700,
                    "uid %d mode %o" % (st.st_uid, st.st_mode & 0o777))
        else:
            r.check("state_dir created root-owned 0700", False, "not created")
        self.check_state_after_login(step)

        mark = env.log.mark()
        rc, out, prompts = env.ssh(port, USER, env.password, code)
        r.check("ssh same code again: refused", rc != 0 and REMOTE_OUT not in out,
                self.explain(rc, out, prompts, slog, mark))
        r.check("ssh same code again: code prompt reached",
                kinds(prompts) == ["password", "code"], str(prompts))
        # The reason, as pam_totp(8) TROUBLESHOOTING words it.
        lines = [l for l in env.log.since(mark) if "pam_totp(" in l]
        r.check("ssh same code again: logged as already used",
                any("already used" in l for l in lines), "\n  ".join(lines))

        rc, out, prompts = env.ssh(port, USER, env.password, env.wrong_code())
        r.check("ssh wrong code: refused", rc != 0 and REMOTE_OUT not in out,
                self.explain(rc, out, prompts))

        # Any code: the password is wrong, so pam_unix (requisite) ends the
        # stack before the code is asked.
        rc, out, prompts = env.ssh(port, USER, "not-" + env.password, env.wrong_code())
        r.check("ssh wrong password: refused", rc != 0 and REMOTE_OUT not in out,
                self.explain(rc, out, prompts))
        r.check("ssh wrong password: code prompt never reached",
                kinds(prompts) == ["password"], str(prompts))

    def check_state_after_login(self, step):
        """The login through sshd is in the state: the user's u-NAME file,
        the claim of the secret's token, the step used, where it came from."""
        env, r = self.env, self.r
        try:
            account, token, claims = env.state()
        except (state_files.StateError, OSError) as e:
            r.check("state after the login parses", False, repr(e))
            return
        names = sorted(os.listdir(env.state_dir))
        r.check("state_dir holds u-%s and the claim of the token, nothing else" % USER,
                names == sorted(["u-" + USER, "t-" + env.token_id()])
                and claims == {env.token_id(): "u-" + USER}, "%s %s" % (names, claims))
        r.check("state: the login's step is used, nothing pending",
                token is not None and token["used_until"] >= (step + 1) * PERIOD
                and token["pending_until"] is None and account["charge"] is None,
                "%s %s" % (account, token))
        items = account.get("last_login_items", {}) if account else {}
        r.check("state: last login recorded from sshd on 127.0.0.1",
                account is not None and account["last_login"] is not None
                and items.get("service") == "sshd" and items.get("rhost") == "127.0.0.1", str(account))

    # 2 ------------------------------------------------------------------
    def pubkey_then_code(self):
        env, r = self.env, self.r
        # window=3: a few logins in a row without waiting for the next 30 s.
        port, _, slog = env.start_sshd("keycode", "publickey,keyboard-interactive:pam",
                                       self.module_line("window=3"))
        methods = "publickey,keyboard-interactive"
        # Also shows that the two wrong codes of password_then_code did not
        # lock the user out.
        code, step = env.fresh_code(window=3)
        mark = env.log.mark()
        rc, out, prompts = env.ssh(port, USER, env.password, code, key=True, methods=methods)
        if r.check("ssh key + code: logged in, command ran", logged_in(rc, out),
                   self.explain(rc, out, prompts, slog, mark)):
            env.last_step = step
        r.check("ssh key + code: only the code asked, never the password",
                kinds(prompts) == ["code"], str(prompts))

        rc, out, prompts = env.ssh(port, USER, env.password, env.wrong_code(), key=True,
                                   methods=methods)
        r.check("ssh key + wrong code: refused", rc != 0 and REMOTE_OUT not in out,
                self.explain(rc, out, prompts))

        code, _ = env.fresh_code(window=3)
        rc, out, prompts = env.ssh(port, USER, env.password, code, key=False,
                                   methods="keyboard-interactive")
        r.check("ssh code without the key: refused, nothing asked",
                rc != 0 and REMOTE_OUT not in out and prompts == [],
                self.explain(rc, out, prompts))

    # 3 ------------------------------------------------------------------
    def recovery_code(self):
        env, r = self.env, self.r
        if not r.check("totp-enroll printed 10 recovery codes", len(env.recovery) == 10,
                       "%d found" % len(env.recovery)):
            return
        port, slog = self.pwcode_port, self.pwcode_log
        rcode = env.recovery[3]
        mark = env.log.mark()
        rc, out, prompts = env.ssh(port, USER, env.password, rcode)
        r.check("ssh password + recovery code: logged in",
                logged_in(rc, out) and kinds(prompts) == ["password", "code"],
                self.explain(rc, out, prompts, slog, mark))
        rc, out, prompts = env.ssh(port, USER, env.password, rcode)
        r.check("ssh same recovery code again: refused", rc != 0 and REMOTE_OUT not in out,
                self.explain(rc, out, prompts))
        rc, out, prompts = env.ssh(port, USER, env.password, env.recovery[4].lower())
        r.check("ssh another recovery code, typed in lower case: logged in",
                logged_in(rc, out) and kinds(prompts) == ["password", "code"],
                self.explain(rc, out, prompts))
        # Both are used in the token's record, by their tags.
        _, token, _ = env.state()
        used = {entry.split(":", 1)[0] for entry in (token or {}).get("recovery_used", [])}
        r.check("state: the two recovery codes are used (recovery_used)",
                used == {env.recovery_tag(env.recovery[3]), env.recovery_tag(env.recovery[4])}, str(token))

    # 4 ------------------------------------------------------------------
    def unenrolled_user(self):
        env, r = self.env, self.r
        port, _, slog = env.start_sshd(
            "nullok", "keyboard-interactive",
            "auth requisite pam_unix.so nodelay\n" + self.module_line("nullok"))
        mark = env.log.mark()
        rc, out, prompts = env.ssh(port, NOUSER, env.password, "")
        r.check("nullok, user without enrollment: logged in with the password alone",
                logged_in(rc, out), self.explain(rc, out, prompts, slog, mark))
        r.check("nullok, user without enrollment: no code asked",
                kinds(prompts) == ["password"], str(prompts))

        rc, out, prompts = env.ssh(port, USER, env.password, env.wrong_code())
        r.check("nullok, enrolled user with a wrong code: refused",
                rc != 0 and REMOTE_OUT not in out and kinds(prompts) == ["password", "code"],
                self.explain(rc, out, prompts))

        port = self.pwcode_port
        rc, out, prompts = env.ssh(port, NOUSER, env.password, "123456")
        r.check("without nullok, user without enrollment: refused",
                rc != 0 and REMOTE_OUT not in out, self.explain(rc, out, prompts))
        r.check("without nullok, user without enrollment: still asked for a code",
                kinds(prompts) == ["password", "code"], str(prompts))

    # 5 ------------------------------------------------------------------
    def login_session(self, pamd, code, want_shell):
        """login(1) on a pseudo-terminal in a namespace: answers the password
        and CODE; returns how far it got and the transcript."""
        import pexpect  # pylint: disable=import-outside-toplevel
        env = self.env
        login = shutil.which("login") or "/bin/login"
        argv = env.ns_command(pamd, [login, USER])
        path = env.path("login-%d.transcript" % len(env.files))
        transcript = open(path, "w")
        env.files.append(transcript)
        child = pexpect.spawn(argv[0], argv[1:],
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb",
                                   "LANG": "C", "E2E_HOST_MNTNS": os.environ["E2E_HOST_MNTNS"]},
                              encoding="utf-8", codec_errors="replace", timeout=20,
                              logfile=transcript)
        t0 = time.time()
        stage = "password prompt"
        try:
            child.expect("Password: ")
            child.sendline(env.password)
            stage = "code prompt"
            child.expect("Verification code: ")
            env.sent.add(code)
            child.sendline(code)
            if want_shell:
                stage = "shell"
                child.expect([r"\$ ", r"# "])
                child.sendline(REMOTE_CMD)
                child.expect(REMOTE_OUT)
                stage = "logout"
                child.sendline("exit")
                child.expect(pexpect.EOF)
            else:
                stage = "refusal"
                # login says so, then asks for a user name again.
                child.expect("Login incorrect")
                stage = "no shell"
                child.expect(["login: ", pexpect.EOF], timeout=10)
            stage = "done"
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            stage += " (%s after %.1f s)" % (type(e).__name__, time.time() - t0)
        finally:
            child.close(force=True)
            transcript.flush()
        if stage != "done":
            stage += ", exit %s signal %s" % (child.exitstatus, child.signalstatus)
        with open(path) as f:
            text = f.read().replace(env.password, "<password>")
        return stage, text

    def console_login(self):
        env, r = self.env, self.r
        pamd = env.pam_dir("login", {"login": (
            "auth requisite pam_unix.so nodelay\n"
            + self.module_line("window=3") + "\n"
            "account required pam_unix.so\n"
            "session required pam_unix.so\n"
            "password required pam_deny.so\n")})
        code, step = env.fresh_code(window=3)
        mark = env.log.mark()
        stage, text = self.login_session(pamd, code, want_shell=True)
        if r.check("console login on a pty: password, code, shell, logout", stage == "done",
                   "stuck at %s; transcript %r\n  syslog: %s"
                   % (stage, text[-600:], "\n  syslog: ".join(env.log.since(mark)))):
            env.last_step = step

        stage, text = self.login_session(pamd, env.wrong_code(), want_shell=False)
        r.check("console login with a wrong code: Login incorrect, no shell",
                stage == "done" and REMOTE_OUT not in text,
                "stuck at %s; transcript %r" % (stage, text[-600:]))


def check_syslog(env, results):
    """The module's log lines name users and reasons, never a secret, a
    password, a code or a recovery code (pam_totp(8), LOGGING)."""
    lines = [l for l in env.log.lines if "pam_totp(" in l]
    if not results.check("module logged through syslog (%d lines caught)" % len(lines),
                         bool(lines)):
        return
    secrets = [env.password] + [secret for secret, _ in env.secrets.values()]
    for rc in env.recovery:
        secrets += [rc, rc.lower(), rc.replace("-", ""), rc.replace("-", "").lower()]
    leaks = []
    for line in env.log.lines:
        text = re.sub(r"\[\d+\]", "", line)      # pids
        for word in secrets:
            if word and word in text:
                leaks.append(line)
        for code in env.sent:
            if re.search(r"(?<![0-9A-Za-z])%s(?![0-9A-Za-z])" % re.escape(code), text):
                leaks.append(line)
    results.check("no password, secret, code or recovery code in any syslog line",
                  not leaks, "%d lines (not shown: they hold a secret)" % len(leaks))


def main():
    results = Results()
    if os.geteuid() != 0:
        print("skipped: needs root (starts sshd and login in private mount namespaces)")
        results.skipped = len(ALL_TESTS)
        print(results.summary())
        return 0

    module = os.environ.get("PAM_TOTP_MODULE", "")
    enroll = os.environ.get("TOTP_ENROLL", "")
    for var, value in (("PAM_TOTP_MODULE", module), ("TOTP_ENROLL", enroll)):
        if not os.path.isabs(value) or not os.path.exists(value):
            print("error: %s must name the built file by absolute path (got %r)" % (var, value))
            results.failed += 1
            print(results.summary())
            return 1

    missing = [p for p in ("unshare", "setpriv", "ssh", "ssh-keygen", "oathtool")
               if not shutil.which(p)]
    if not os.path.exists("/usr/sbin/sshd"):
        missing.append("/usr/sbin/sshd")
    if missing:
        for t in ALL_TESTS:
            results.skip(t, "missing " + " ".join(missing))
        print(results.summary())
        return 0
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        for t in ALL_TESTS:
            results.skip(t, "no mount namespaces here: " + probe.stderr.strip())
        print(results.summary())
        return 0

    become_subreaper()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    before = {p: file_digest(p) for p in WATCHED}
    root_ssh = os.path.join(pwd.getpwuid(0).pw_dir, ".ssh")
    root_ssh_existed = os.path.lexists(root_ssh)
    started = time.time()
    env = None
    interrupted = False
    try:
        env = Env(module, enroll)
        env.setup()
        enrolled, text = env.enroll_user()
        results.check("totp-enroll --user %s in the namespace wrote ~/.pam_totp" % USER,
                      enrolled, text)
        enrolled, text = env.enroll_user(MEMBER)
        results.check("totp-enroll --user %s in the namespace wrote ~/.pam_totp" % MEMBER,
                      enrolled, text)
        tests = Tests(env, results)
        run = sys.modules[__name__]
        recipes = exemptions.Recipes(tests, run)
        suites = [(exemptions.ALL_TESTS, recipes), (grace.ALL_TESTS, grace.Grace(tests, run, recipes)),
                  (audit_log.ALL_TESTS, audit_log.Fail2ban(tests, run, recipes))]
        for name in ALL_TESTS:
            if name == "console_login":
                try:
                    import pexpect  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
                except ImportError:
                    results.skip(name, "python3-pexpect is not installed")
                    continue
                if not shutil.which("login"):
                    results.skip(name, "login is not installed")
                    continue
            if name in ("recovery_code", "unenrolled_user") and not hasattr(tests, "pwcode_port"):
                results.skip(name, "needs the sshd of password_then_code")
                continue
            print("# %s" % name, flush=True)
            try:
                suite = next((s for names, s in suites if name in names), tests)
                t0 = time.time()
                getattr(suite, name)()
                print("# %s: %.1f s" % (name, time.time() - t0), flush=True)
            except Interrupted:
                raise
            except Exception:  # pylint: disable=broad-except
                results.check(name, False, traceback.format_exc())
        check_syslog(env, results)
    except Interrupted as e:
        interrupted = True
        results.check("run", False, "interrupted (%s)" % e)
    except Exception:  # pylint: disable=broad-except
        results.check("setup", False, traceback.format_exc())
    finally:
        with uninterrupted():
            if env is not None:
                env.cleanup()

    after = {p: file_digest(p) for p in WATCHED}
    changed = [p for p in WATCHED if before[p] != after[p]]
    results.check("host unchanged: pam.d, utmp, wtmp, btmp, lastlog", not changed, "changed: " + " ".join(changed))
    leaked = [p for p in USER_DATABASE if names_in(p) & set(USERS + GROUPS)]
    results.check("host user database holds none of %s" % ", ".join(USERS + GROUPS),
                  not leaked, " ".join(leaked))
    if env is not None:
        leftover = descendants()
        results.check("no process left behind", not leftover, "pids %s" % leftover)
        results.check("temporary directory removed", not os.path.exists(env.root), env.root)
    results.check("no ~/.ssh made for root by the ssh client",
                  root_ssh_existed or not os.path.lexists(root_ssh))
    if env is not None and env.log is not None and os.environ.get("E2E_VERBOSE"):
        for line in env.log.lines:
            print("# syslog: " + line)
    print("# %.1f s%s" % (time.time() - started, " (interrupted)" if interrupted else ""))
    print(results.summary())
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
