"""Shared by tests/faults/run.py and tests/crash/run.py: a private PAM
service around pam_totp.so, enrollment through totp-enroll on a pipe
(answered with oathtool), and a strict reader of the state file written to
pam_totp-secret(5) ("The state file")."""

import base64
import hmac
import os
import pwd
import re
import shutil
import struct
import subprocess
import tempfile
import time

ENROLL = os.environ.get("TOTP_ENROLL", "build/totp-enroll")
MODULE = os.environ.get("PAM_TOTP_MODULE", "build/pam_totp.so")
PAM_LOGIN = os.environ.get("PAM_LOGIN", "build/pam_login")

URI_RE = re.compile(r"^URI: (otpauth://\S+)$", re.M)
RECOVERY_RE = re.compile(r"\b([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})\b")
USER = "root"


class Sandbox:
    """A temp dir with conf/ (the PAM service, outside the fault prefix) and
    data/ (secret file and state_dir: the files under test). Removed on exit,
    also when a test fails."""

    def __init__(self, window=3):
        self.root = tempfile.mkdtemp(prefix="pam_totp-faults.")
        os.chmod(self.root, 0o755)
        self.conf = os.path.join(self.root, "conf")
        self.data = os.path.join(self.root, "data")
        os.mkdir(self.conf, 0o700)
        os.mkdir(self.data, 0o700)
        self.secret = os.path.join(self.data, "secret")
        self.state_dir = os.path.join(self.data, "state")
        # The module keys the state by uid.
        self.state = os.path.join(self.state_dir, "%d.state" % pwd.getpwnam(USER).pw_uid)
        with open(os.path.join(self.conf, "totp"), "w") as f:
            f.write(f"auth required {os.path.abspath(MODULE)} secret={self.secret} "
                    f"state_dir={self.state_dir} window={window}\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)
        return False


def totp(b32, when, period=30, digits=6):
    """RFC 6238 with HMAC-SHA1 (the enrollments here use the defaults)."""
    key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(when) // period), "sha1").digest()
    off = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return f"{value:0{digits}d}"


def secret_of(uri):
    return re.search(r"[?&]secret=([A-Z2-7]+)", uri).group(1)


def oathtool_code(b32):
    return subprocess.run(["oathtool", "--totp", "-b", b32], capture_output=True, text=True,
                          check=True).stdout.strip()


class EnrollRun:
    """totp-enroll on pipes: reads up to the URI, answers with oathtool."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen([ENROLL] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.uri = None
        self.out_lines = []

    def answer(self):
        """Reads until the URI line and sends the code; False when the tool
        ended (or stopped printing) before showing one."""
        for line in self.proc.stdout:
            self.out_lines.append(line)
            m = URI_RE.match(line.rstrip("\n"))
            if m:
                self.uri = m.group(1)
                try:
                    self.proc.stdin.write(oathtool_code(secret_of(self.uri)) + "\n")
                    self.proc.stdin.flush()
                except BrokenPipeError:
                    pass
                return True
        return False

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        self.out_lines.append(out)
        self.stdout = "".join(self.out_lines)
        self.stderr = err
        return self.proc.returncode


def enroll(path, extra=(), env=None):
    """A clean enrollment; returns (b32 secret, recovery codes)."""
    r = EnrollRun(["--secret-file", path, "--qr", "none", "--issuer", "faults", "--label", "t"] + list(extra),
                  env=env)
    assert r.answer(), "totp-enroll printed no URI"
    rc = r.finish()
    assert rc == 0, f"totp-enroll exit {rc}: {r.stderr}"
    return secret_of(r.uri), RECOVERY_RE.findall(r.stdout)


def login(sandbox, answer, env=None, timeout=30):
    """One login through pam_login; returns (succeeded, output)."""
    r = subprocess.run([PAM_LOGIN, sandbox.conf, "totp", USER], input=answer + "\n", capture_output=True,
                       text=True, env=env, timeout=timeout)
    out = r.stdout + r.stderr
    ok = r.returncode == 0 and "PAM result: Success" in r.stdout
    if r.returncode not in (0, 1) and r.returncode >= 0:
        raise AssertionError(f"pam_login exit {r.returncode}: {out}")
    return ok, out


def enroll_status_ok(path):
    """The real secret-file parser: --status --json fails on a malformed file."""
    r = subprocess.run([ENROLL, "--status", "--json", "--secret-file", path], capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


# --- the state file (pam_totp-secret(5)) -----------------------------------

_SINGLE = {"enrollment_id", "last_step", "lockouts", "locked_until"}
_REPEAT = {"failure", "used"}
_DEC = re.compile(r"^(0|[1-9][0-9]*)$")


def parse_state(text):
    """Strict reader; raises ValueError naming the line. Returns a dict with
    the single keys (ints for numbers) and lists for failure/used."""
    if len(text) > 64 * 1024:
        raise ValueError("state file larger than 64 KiB")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "version 1":
        raise ValueError("line 1: not 'version 1'")
    out = {"failure": [], "used": []}
    for n, line in enumerate(lines[1:], start=2):
        if any(ord(c) < 0x20 or ord(c) > 0x7E for c in line) or len(line) > 1024:
            raise ValueError(f"line {n}: bad byte or too long")
        if line == "" or line.startswith("#"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not re.fullmatch(r"[a-z_]{1,32}", parts[0]) or parts[1] == "":
            raise ValueError(f"line {n}: malformed")
        key, value = parts
        if key == "enrollment_id":
            if not re.fullmatch(r"[0-9a-f]{32}", value):
                raise ValueError(f"line {n}: bad enrollment_id")
        elif key in ("last_step", "lockouts", "locked_until", "failure"):
            if not _DEC.match(value) or int(value) >= 2 ** 64:
                raise ValueError(f"line {n}: bad number")
            value = int(value)
        elif key == "used":
            if not re.fullmatch(r"\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]+", value):
                raise ValueError(f"line {n}: bad used id")
        else:
            raise ValueError(f"line {n}: unknown key {key}")
        if key in _SINGLE:
            if key in out:
                raise ValueError(f"line {n}: duplicate {key}")
            out[key] = value
        else:
            out[key].append(value)
    return out


def read_state(path):
    """None when absent, else the parsed state (ValueError when malformed)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    return parse_state(raw.decode("ascii"))


def leftovers(directory, expected):
    """Names in `directory` other than `expected` (temp files left behind)."""
    try:
        return sorted(set(os.listdir(directory)) - set(expected))
    except FileNotFoundError:
        return []


def wait_for_fresh_step(period=30, margin=5):
    """Sleeps past a step boundary when fewer than `margin` seconds are left,
    so a test's codes stay within the window."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 0.1)


class Tally:
    """Counts checks for the closing "N passed, M failed" line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def result(self, ok, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}: {detail}")

    def close(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
