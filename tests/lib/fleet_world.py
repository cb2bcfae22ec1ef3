"""The world of the fleet tests (tests/fleet) and of `make demo-fleet`:
two or more "hosts" sharing one throwaway PostgreSQL (pg_cluster.py).

A host is a private mount namespace (fleet_ns_host.py) with its own
/var/lib/pam_totp, /etc/pam.d, /etc/pam_totp (store.conf, the CA, the
secrets) and /dev/log (a socket this process reads); commands run in it
through nsenter. Everything lives in one temporary directory:

    ROOT/clock                the time shim's offset (TIME_SHIM_FILE)
    ROOT/lib/pam_totp_pgsql.so  a copy of the backend, in directories only
                              root controls (the module checks them)
    ROOT/<host>/pam.d         /etc/pam.d in the host
    ROOT/<host>/etc-pam_totp  /etc/pam_totp in the host (store.conf 0600)
    ROOT/<host>/state         /var/lib/pam_totp in the host
    ROOT/<host>/log.sock      /dev/log in the host

    with World(build) as w:
        w.start_store()                       # cluster, roles, database
        a, b = w.add_host("a", "tcp"), w.add_host("b", "socket")
        w.init_store(a)                       # totp-admin --init-store + grants
        user = w.add_user("alice", recovery=2)
        r = a.login("totp", "alice", user.code(w.clock.step()))

World.close() (also on failure) stops every process it started (it is
their subreaper), the cluster, and removes the directory. Standard library
only (ctypes for libcrypt).
"""

import base64
import ctypes
import ctypes.util
import hashlib
import os
import pwd
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pg_cluster  # noqa: E402
# become_subreaper and descendants also as fleet_world.*: tests/fleet, scripts/demo-fleet
from otp_codes import code_not_in, hotp, totp  # noqa: E402,F401  (hotp: tests/admin through this module)
from proc_tree import become_subreaper, descendants, kill_descendants  # noqa: E402,F401
from suite_run import Interrupted, run_tests, uninterrupted  # noqa: E402
from syslog_catcher import SyslogCatcher  # noqa: E402

PYTHON = "/usr/bin/python3"
NS_HOST = os.path.join(HERE, "fleet_ns_host.py")
PERIOD = 30
CODE_PROMPT = "Verification code: "
LOCK_TEXT = "Too many wrong codes"
# pam_strerror's texts, as pam_login prints them ("PAM result: ...").
PAM_SUCCESS = "Success"
PAM_AUTH_ERR = "Authentication failure"
PAM_AUTHINFO_UNAVAIL = "Authentication service cannot retrieve authentication info"
HOST_ROLE = "pam_totp_host"
OWNER_ROLE = "pam_totp_owner"
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


# --- codes and secrets ------------------------------------------------------

class Codes:
    """The codes of an enrolled secret (self.key)."""

    def code(self, step):
        return totp(self.key, step)

    def wrong_code(self, step, serial=0):
        """A code that matches no time step within 12 of STEP."""
        return code_not_in({totp(self.key, s) for s in range(step - 12, step + 13)}, serial)


def cannot_run(root_for, tools):
    """Why a suite of this world cannot run here (it is then skipped), or
    None: ROOT_FOR says what root is needed for, TOOLS the programs it runs
    besides the world's own."""
    if os.geteuid() != 0:
        return "needs root (%s)" % root_for
    why = postgres_available()
    if why:
        return why
    missing = [t for t in ("unshare", "nsenter", "setpriv", "runuser", "openssl") + tuple(tools)
               if not shutil.which(t) and not os.path.exists(t)]
    if missing:
        return "missing " + " ".join(missing)
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "no mount namespaces here: " + probe.stderr.strip()
    return None  # a built file missing is a failure (World says which), not a skip


class _Crypt:
    """libcrypt (libxcrypt) through ctypes: yescrypt for recovery codes and
    shadow entries, as totp-enroll and passwd make them."""

    def __init__(self):
        self.lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
        self.lib.crypt_gensalt.restype = ctypes.c_char_p
        self.lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
        self.lib.crypt.restype = ctypes.c_char_p
        self.lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]

    def hash(self, phrase, prefix="$y$"):
        setting = self.lib.crypt_gensalt(prefix.encode(), 0, None, 0)
        out = self.lib.crypt(phrase.encode(), setting) if setting else None
        if not out or out.startswith(b"*"):
            raise RuntimeError("libcrypt cannot hash with %s" % prefix)
        return out.decode()


_crypt = None


def crypt_hash(phrase, prefix="$y$"):
    global _crypt  # pylint: disable=global-statement
    if _crypt is None:
        _crypt = _Crypt()
    return _crypt.hash(phrase, prefix)


def new_recovery_code():
    raw = "".join(RECOVERY_ALPHABET[b % len(RECOVERY_ALPHABET)] for b in os.urandom(12))
    return "%s-%s-%s" % (raw[:4], raw[4:8], raw[8:])


class User(Codes):
    """An enrolled user: a secret (the same file on every host, as
    configuration management would distribute it) and recovery codes."""

    def __init__(self, name, recovery=0):
        self.name = name
        self.key = os.urandom(20)
        self.recovery = [new_recovery_code() for _ in range(recovery)]

    @property
    def b32(self):
        return base64.b32encode(self.key).decode().rstrip("=")

    def secret_text(self):
        lines = ["version 1",
                 "# pam_totp secret file (fleet test): see pam_totp-secret(5).",
                 "secret " + self.b32, "algorithm sha1", "digits 6", "period %d" % PERIOD,
                 "enrolled %d" % (int(time.time()) - 86400),
                 "enrollment_id " + hashlib.sha256(self.key).hexdigest()[:32]]
        lines += ["recovery " + crypt_hash(code.replace("-", "")) for code in self.recovery]
        return "\n".join(lines) + "\n"


# --- the hosts' syslog (SyslogCatcher: syslog_catcher.py) ---------------------

def severity(line):
    """The syslog severity of a datagram ("<PRI>..."), or None."""
    m = re.match(r"<(\d+)>", line)
    return int(m.group(1)) & 7 if m else None


LOG_ERR = 3


def module_lines(lines):
    return [line for line in lines if "pam_totp(" in line]


# --- the simulated clock ------------------------------------------------------

class Clock:
    """The offset (seconds) the time shim adds to every pam_login's wall
    clock. It only moves forward: the store keeps absolute times."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self._write()

    def _write(self):
        with open(self.path + ".new", "w") as f:
            f.write("%d\n" % self.offset)
        os.replace(self.path + ".new", self.path)

    def advance(self, seconds):
        self.offset += int(seconds)
        self._write()

    def now(self):
        return time.time() + self.offset

    def step(self):
        return int(self.now()) // PERIOD

    def next_step(self):
        """Moves to the start of a time step no login has seen yet."""
        self.advance(PERIOD)
        return self.step()


# --- processes (become_subreaper, descendants: proc_tree.py) -------------------

class LoginResult:
    def __init__(self, exit_status, output, elapsed):
        self.exit = exit_status
        self.output = output
        self.elapsed = elapsed
        m = re.findall(r"PAM result: (.*)", output)
        self.result = m[-1].strip() if m else None

    @property
    def ok(self):
        return self.exit == 0 and self.result == PAM_SUCCESS

    @property
    def unavailable(self):
        return self.exit == 1 and self.result == PAM_AUTHINFO_UNAVAIL

    @property
    def prompted(self):
        return CODE_PROMPT in self.output

    @property
    def locked(self):
        return LOCK_TEXT in self.output

    def __repr__(self):
        return "exit %s after %.2f s, output %r" % (self.exit, self.elapsed, self.output.strip()[-300:])


class StagedLogin:
    """A pam_login that is stopped at the code prompt until answer()."""

    def __init__(self, host, argv, env):
        self.t0 = time.monotonic()
        self.proc = host.world.popen(host.command(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self.buf = b""
        self.answered_at = None

    def wait_prompt(self, timeout=20):
        """True once pam_login asked for the code (False: it ended first)."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while CODE_PROMPT.encode() not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no code prompt within %d s: %r" % (timeout, self.buf))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return False
                self.buf += chunk
        return True

    def answer(self, text):
        self.answered_at = time.monotonic()
        try:
            self.proc.stdin.write((text + "\n").encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.stdin = None

    def finish(self, timeout=30):
        try:
            rest, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
            rest += b"\n[pam_login killed after %d s]" % timeout
        end = time.monotonic()
        result = LoginResult(self.proc.returncode, (self.buf + rest).decode("utf-8", "replace"), end - self.t0)
        result.after_answer = end - self.answered_at if self.answered_at is not None else None
        return result


class Host:
    """One host: a private mount namespace with its own state, PAM
    configuration, store.conf and /dev/log."""

    def __init__(self, world, name):
        self.world = world
        self.name = name
        self.dir = os.path.join(world.root, name)
        self.agent = None
        self.log = None
        for sub, mode in (("", 0o755), ("pam.d", 0o755), ("etc-pam_totp", 0o755), ("state", 0o700),
                          ("ns-etc", 0o755), ("ns-dev", 0o755), ("ns-varlib", 0o755), ("home", 0o755)):
            os.makedirs(os.path.join(self.dir, sub), mode, exist_ok=True)
            os.chmod(os.path.join(self.dir, sub), mode)
        os.makedirs(self.path("etc-pam_totp", "secrets"), 0o700)
        self.write_service("other", "auth required pam_deny.so\naccount required pam_deny.so\n"
                                    "password required pam_deny.so\nsession required pam_deny.so\n")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def etc(self, *parts):
        """The host's /etc/pam_totp/PARTS as seen from outside it."""
        return self.path("etc-pam_totp", *parts)

    # --- configuration -------------------------------------------------------

    def write_service(self, service, text):
        path = self.path("pam.d", service)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def write_private(self, relpath, text, mode=0o600, owner=(0, 0)):
        """A file in the host's /etc/pam_totp (relpath inside it)."""
        path = self.etc(relpath)
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        with open(path + ".new", "w") as f:
            f.write(text)
        os.chown(path + ".new", *owner)
        os.chmod(path + ".new", mode)
        os.replace(path + ".new", path)
        return "/etc/pam_totp/" + relpath

    def write_store_conf(self, conninfo, timeout=None, backend=None, name="store.conf", mode=0o600,
                         owner=(0, 0)):
        lines = ["# pam_totp store.conf of host %s (pam_totp(8), FLEET)" % self.name, "conninfo " + conninfo]
        if timeout is not None:
            lines.append("timeout %d" % timeout)
        lines.append("backend " + (backend or self.world.backend))
        return self.write_private(name, "\n".join(lines) + "\n", mode, owner)

    def install_secret(self, user):
        self.write_private("secrets/" + user.name, user.secret_text())

    # --- the namespace -----------------------------------------------------

    def start(self):
        self.log = SyslogCatcher(self.path("log.sock"), "fleet", flush_on_since=True)
        os.environ["FLEET_HOST_MNTNS"] = os.readlink("/proc/self/ns/mnt")
        self.agent = self.world.popen(
            ["setpriv", "--pdeathsig", "KILL", "unshare", "--mount", "--propagation", "private",
             PYTHON, NS_HOST, self.dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.agent.stdout.readline()
        if line.strip() != "ready":
            err = self.agent.stderr.read() if self.agent.poll() is not None else ""
            raise RuntimeError("host %s: namespace not set up: %r %s" % (self.name, line, err))

    def stop(self):
        if self.agent is not None:
            try:
                self.agent.stdin.close()
            except OSError:
                pass
            try:
                self.agent.wait(5)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
            self.agent = None
        if self.log is not None:
            self.log.close()

    def command(self, argv):
        return ["nsenter", "-t", str(self.agent.pid), "-m", "--"] + list(argv)

    def env(self, shim=True, extra=None):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        if shim and self.world.time_shim:
            env.update(LD_PRELOAD=self.world.time_shim, TIME_SHIM_FILE=self.world.clock.path)
        env.update(extra or {})
        return env

    def run(self, argv, input_text=None, timeout=60, env=None):
        p = self.world.popen(self.command(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env or self.env(shim=False))
        try:
            out, _ = p.communicate(input_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            out += "\n[killed after %d s]" % timeout
        return p.returncode, out

    # --- logins ------------------------------------------------------------

    def login_argv(self, service, user):
        return [self.world.pam_login, "/etc/pam.d", service, user]

    def login(self, service, user, answer, timeout=30):
        """One login through pam_login (real libpam, the host's /etc/pam.d)."""
        t0 = time.monotonic()
        p = self.world.popen(self.command(self.login_argv(service, user)), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env())
        try:
            out, _ = p.communicate((answer + "\n") if answer is not None else "", timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            out += "\n[pam_login killed after %d s]" % timeout
        return LoginResult(p.returncode, out, time.monotonic() - t0)

    def staged_login(self, service, user):
        return StagedLogin(self, self.login_argv(service, user), self.env())


class World:
    def __init__(self, build=None, prefix="pam_totp-fleet."):
        env = os.environ
        build = os.path.abspath(build) if build else None

        def tool(var, name):
            path = env.get(var) or (os.path.join(build, name) if build else "")
            if not path or not os.path.isabs(path) or not os.path.exists(path):
                raise RuntimeError("%s must name the built %s by absolute path (got %r)" % (var, name, path))
            return path

        self.module = tool("PAM_TOTP_MODULE", "pam_totp.so")
        self.pam_login = tool("PAM_LOGIN", "pam_login")
        self.admin = tool("TOTP_ADMIN", "totp-admin")
        self.backend_built = tool("PGSQL_BACKEND", "pam_totp_pgsql.so")
        shim = env.get("TIME_SHIM") or (os.path.join(build, "timeshim.so") if build else "")
        self.time_shim = shim if shim and os.path.exists(shim) else None
        self.procs = []
        self.hosts = []
        self.pg = None
        self.root = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.root, 0o755)
        self.clock = Clock(os.path.join(self.root, "clock"))
        # The backend, where the module's checks want it: a root-owned
        # file in directories only root controls (the build tree may not be).
        os.mkdir(os.path.join(self.root, "lib"), 0o755)
        self.backend = os.path.join(self.root, "lib", "pam_totp_pgsql.so")
        shutil.copyfile(self.backend_built, self.backend)
        os.chmod(self.backend, 0o644)
        self.host_password = "hostpw-" + os.urandom(8).hex()
        self.owner_password = "ownerpw-" + os.urandom(8).hex()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def popen(self, argv, **kw):
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    # --- the store -----------------------------------------------------------

    def start_store(self):
        self.pg = pg_cluster.Cluster()
        self.pg.__enter__()
        self.pg.psql("CREATE ROLE %s LOGIN PASSWORD '%s'; CREATE ROLE %s LOGIN PASSWORD '%s'"
                     % (OWNER_ROLE, self.owner_password, HOST_ROLE, self.host_password))
        self.pg.psql("CREATE DATABASE pam_totp OWNER %s" % OWNER_ROLE)
        return self.pg

    def conninfo(self, kind, user=HOST_ROLE, password=None, extra=""):
        """The hosts' connection string: "tcp" (TLS verify-full against the
        test CA, which each host has as /etc/pam_totp/ca.crt, and SCRAM) or
        "socket" (the cluster's Unix socket)."""
        if password is None:
            password = self.host_password if user == HOST_ROLE else self.owner_password
        if kind == "socket":
            parts = ["host=%s" % self.pg.dir, "port=%d" % self.pg.port]
        else:
            parts = ["host=localhost", "hostaddr=127.0.0.1", "port=%d" % self.pg.port, "sslmode=verify-full",
                     "sslrootcert=/etc/pam_totp/ca.crt"]
        parts += ["dbname=pam_totp", "user=%s" % user]
        if kind != "socket":
            parts.append("password=%s" % password)
        if extra:
            parts.append(extra)
        return " ".join(parts)

    def add_host(self, name, kind, timeout=None, system_users=()):
        """A host whose store.conf reaches the store by KIND (tcp or
        socket); SYSTEM_USERS (name, password, uid) are added to its
        passwd, shadow and group."""
        host = Host(self, name)
        host.kind = kind
        if self.pg is not None:
            host.write_private("ca.crt", open(self.pg.ca_cert).read(), 0o644)
            host.write_store_conf(self.conninfo(kind), timeout)
        if system_users:
            self._write_user_db(host, system_users)
        host.start()
        self.hosts.append(host)
        return host

    def _write_user_db(self, host, users):
        os.makedirs(host.path("etc"), 0o755, exist_ok=True)
        today = int(time.time() // 86400)
        for name in ("passwd", "group", "shadow"):
            with open("/etc/" + name) as f:
                text = f.read()
            if text and not text.endswith("\n"):
                text += "\n"
            for user, password, uid in users:
                home = host.path("home", user)
                if name == "passwd":
                    os.makedirs(home, 0o755, exist_ok=True)
                    os.chown(home, uid, uid)
                    text += "%s:x:%d:%d:pam_totp fleet test:%s:/bin/sh\n" % (user, uid, uid, home)
                elif name == "group":
                    text += "%s:x:%d:\n" % (user, uid)
                else:
                    text += "%s:%s:%d:0:99999:7:::\n" % (user, crypt_hash(password, "$6$"), today)
            st = os.stat("/etc/" + name)
            path = host.path("etc", name)
            with open(path, "w") as f:
                f.write(text)
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, st.st_mode & 0o7777)

    def init_store(self, host, extra_args=()):
        """totp-admin --init-store in HOST (its /etc/pam_totp/store.conf,
        connecting as the owner); returns (exit status, output)."""
        return host.run([self.admin, "--init-store", "--conninfo", self.conninfo("tcp", OWNER_ROLE)]
                        + list(extra_args))

    def apply_grants(self, admin_output):
        """Runs the GRANTs totp-admin printed, as the database owner."""
        at = admin_output.find("GRANT")
        if at < 0:
            raise RuntimeError("totp-admin printed no GRANT:\n" + admin_output)
        grants = "\n".join(line for line in admin_output[at:].splitlines()
                           if line.strip() and not line.startswith("("))
        self.pg.psql(grants, db="pam_totp", user=OWNER_ROLE)
        return grants

    def state_row(self, name):
        """The text of one state in the store (None when it has none)."""
        out = self.pg.psql("SELECT state FROM pam_totp.states WHERE name = '%s'" % name.replace("'", "''"),
                           db="pam_totp")
        return out if out.strip() else None

    # --- users ---------------------------------------------------------------

    def add_user(self, name, recovery=0, hosts=None):
        user = User(name, recovery)
        for host in hosts or self.hosts:
            host.install_secret(user)
        return user

    def service_line(self, options=""):
        return ("auth required %s secret=/etc/pam_totp/secrets/%%u store=postgresql%s\n"
                % (self.module, (" " + options) if options else ""))

    def add_service(self, service, options="", store=True, hosts=None):
        """A PAM service on every host: pam_totp alone, on the store (or
        with store=False, on the host's files)."""
        if store:
            text = self.service_line(options)
        else:
            text = "auth required %s secret=/etc/pam_totp/secrets/%%u%s\n" % (
                self.module, (" " + options) if options else "")
        for host in hosts or self.hosts:
            host.write_service(service, text)

    # --- the end -------------------------------------------------------------

    def close(self):
        try:
            for host in self.hosts:
                try:
                    host.stop()
                except Exception:  # pylint: disable=broad-except
                    pass
            if self.pg is not None:
                self.pg.__exit__(None, None, None)
                self.pg = None
        finally:
            kill_descendants(rounds=100, pause=0.02, popens=self.procs)
            for p in self.procs:
                for stream in (p.stdin, p.stdout, p.stderr):
                    if stream is not None:
                        try:
                            stream.close()
                        except OSError:
                            pass
            shutil.rmtree(self.root, ignore_errors=True)


def postgres_available():
    try:
        pg_cluster._bindir()  # pylint: disable=protected-access
    except RuntimeError as e:
        return str(e)
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user (install postgresql: scripts/install-deps)"
    return None


def run_world_suite(results, make_world, make_suite, names):
    """The body of a fleet-world suite's main(): MAKE_WORLD() makes the
    world (one namespace host and a throwaway cluster), MAKE_SUITE(world,
    results) the suite, whose setup() then runs and then each test of NAMES
    (suite_run.run_tests). The world is closed whatever happens, with
    SIGINT and SIGTERM held meanwhile. Returns the world's temporary and
    cluster directories (None when not made), for the caller to check they
    are gone."""
    world = None
    root = pg_dir = None
    try:
        world = make_world()
        root = world.root
        suite = make_suite(world, results)
        suite.setup()
        pg_dir = world.pg.dir
        run_tests(suite, results, names)
    except Interrupted as e:
        results.check("run", False, "interrupted (%s)" % e)
    except Exception:  # pylint: disable=broad-except
        results.check("setup", False, traceback.format_exc())
    finally:
        with uninterrupted():
            if world is not None:
                world.close()
    return root, pg_dir
