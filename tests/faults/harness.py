"""Shared by tests/faults/run.py and tests/crash/run.py: a private PAM
service around pam_totp.so with a simulated clock (TIME_SHIM), enrollment
through totp-enroll on a pipe (answered with oathtool), and what the two
suites check of the state directory (pam_totp(8), FILES), read with
tests/lib/state_files.py."""

import base64
import hashlib
import hmac
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import state_files  # noqa: E402  (the reader of the state files, written from the format's description)

ENROLL = os.environ.get("TOTP_ENROLL", "build/totp-enroll")
MODULE = os.environ.get("PAM_TOTP_MODULE", "build/pam_totp.so")
PAM_LOGIN = os.environ.get("PAM_LOGIN", "build/pam_login")
TIME_SHIM = os.environ.get("TIME_SHIM", "build/timeshim.so")

URI_RE = re.compile(r"^URI: (otpauth://\S+)$", re.M)
RECOVERY_RE = re.compile(r"\b([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})\b")
USER = "root"
PERIOD = 30


class Sandbox:
    """A temp dir with conf/ (the PAM service, outside the fault prefix),
    data/ (secret file and state_dir: the files under test) and the clock
    file of the time shim (outside data/ too). Removed on exit, also when a
    test fails."""

    def __init__(self, window=3, options="", template=False):
        if not os.path.isfile(TIME_SHIM):
            # ld.so would only warn and run the logins on the real clock.
            raise RuntimeError(f"the time shim {TIME_SHIM} is missing (make build/timeshim.so)")
        self.root = tempfile.mkdtemp(prefix="pam_totp-faults.")
        os.chmod(self.root, 0o755)
        self.conf = os.path.join(self.root, "conf")
        self.data = os.path.join(self.root, "data")
        os.mkdir(self.conf, 0o700)
        os.mkdir(self.data, 0o700)
        # template: secret=DATA/%u, the central file the module reads without
        # looking the account up (in directories only root controls).
        self.secret = os.path.join(self.data, USER if template else "secret")
        secret_option = os.path.join(self.data, "%u") if template else self.secret
        self.state_dir = os.path.join(self.data, "state")
        self.window = window
        # The module keeps an account's state in u-NAME (two slots) and
        # points to it from t-TOKENID for each token it claimed.
        self.state = os.path.join(self.state_dir, "u-" + USER)
        self.clock = os.path.join(self.root, "clock")
        self.offset = 0
        self.set_offset(0)
        with open(os.path.join(self.conf, "totp"), "w") as f:
            f.write(f"auth required {os.path.abspath(MODULE)} secret={secret_option} "
                    f"state_dir={self.state_dir} window={window} {options}\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)
        return False

    def set_offset(self, seconds):
        """Moves the logins' clock to `seconds` from the real one."""
        self.offset = int(seconds)
        with open(self.clock, "w") as f:
            f.write(f"{self.offset}\n")

    def now(self):
        """The logins' time (the real time plus the offset)."""
        return time.time() + self.offset

    def pin(self, into_step=10, steps_ahead=0):
        """Moves the logins' clock to `into_step` seconds into a time step
        (`steps_ahead` steps after the current real one, and never back
        before the clock's current step), so that a test's codes stay inside
        their steps without waiting for a boundary. Returns that step."""
        real = int(time.time())
        step = max(real // PERIOD + steps_ahead, int(self.now()) // PERIOD)
        self.set_offset(step * PERIOD + into_step - real)
        return step

    def env(self, extra=None):
        """The environment of a login: the time shim (after any LD_PRELOAD
        in `extra`) reading this sandbox's clock."""
        env = dict(os.environ if extra is None else extra)
        preload = [p for p in env.get("LD_PRELOAD", "").split(":") if p]
        env["LD_PRELOAD"] = ":".join(preload + [os.path.abspath(TIME_SHIM)])
        env["TIME_SHIM_FILE"] = self.clock
        return env


def b32key(b32):
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def totp(b32, when, period=PERIOD, digits=6):
    """RFC 6238 with HMAC-SHA1 (the enrollments here use the defaults)."""
    key = b32key(b32)
    mac = hmac.new(key, struct.pack(">Q", int(when) // period), "sha1").digest()
    off = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return f"{value:0{digits}d}"


def wrong_code(b32, when, window, period=PERIOD):
    """A 6-digit code that matches no step within `window` of `when`."""
    valid = {totp(b32, when + d * period, period) for d in range(-window - 1, window + 2)}
    n = int(totp(b32, when, period))
    while f"{n:06d}" in valid:
        n = (n + 1) % 10 ** 6
    return f"{n:06d}"


def token_id(b32):
    """The id of the secret's replay record (core/otp/token.h)."""
    return state_files.token_id(b32key(b32))


def recovery_tag(b32, code):
    """The tag a used recovery code is remembered by (core/otp/recovery.h):
    HMAC-SHA256 with the token's key over a label and the canonical code
    (upper case, no dashes or spaces), 8 bytes in hex."""
    canonical = code.replace("-", "").replace(" ", "").upper().encode("ascii")
    return hmac.new(b32key(b32), b"pam_totp recovery tag v1\0" + canonical, hashlib.sha256).hexdigest()[:16]


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
    """One login through pam_login on the sandbox's clock; returns
    (succeeded, output). A pam_login that does not end with a result
    (usage error, a signal) raises: a fault must deny, not crash."""
    r = subprocess.run([PAM_LOGIN, sandbox.conf, "totp", USER], input=answer + "\n", capture_output=True,
                       text=True, env=sandbox.env(env), timeout=timeout)
    out = r.stdout + r.stderr
    ok = r.returncode == 0 and "PAM result: Success" in r.stdout
    if r.returncode not in (0, 1):
        raise AssertionError(f"pam_login exit {r.returncode}: {out}")
    return ok, out


def enroll_status_ok(path):
    """The real secret-file parser: --status --json fails on a malformed file."""
    r = subprocess.run([ENROLL, "--status", "--json", "--secret-file", path], capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


# --- the state directory (pam_totp(8), FILES) ------------------------------


def records(path):
    """(newest, newest durable) parsed records of a state file, each None
    when there is none; state_files.StateError when the file is damaged or
    a record does not parse. The newest durable record is what a power loss
    would leave (slot_file.h: a relaxed write never overwrites it)."""
    if state_files.newest_text(path) is None:  # absent, never written; raises when damaged
        return None, None
    with open(path, "rb") as f:
        data = f.read()
    half = len(data) // 2
    slots = [s for s in (state_files._slot(data[:half]), state_files._slot(data[half:])) if s is not None]
    newest = max(slots)
    durable = [s for s in slots if s[1]]
    parse = state_files.parse_text
    return parse(newest[2], path), (parse(max(durable)[2], path + " (durable)") if durable else None)


STATE_HEADER = ("version 2\n# pam_totp state: written by pam_totp.so (pam_totp(8), FILES); "
                "totp-admin shows and resets it.\n")


def state_text(account, tokens, last_login=None, service=""):
    """A state's text as pam_totp writes it (state_format.h): no failures,
    `tokens` a list of (token id, used_until)."""
    text = STATE_HEADER + f"account {account}\nlockouts 0\nlocked_until 0\ndebt_until 0\nsince_success 0\n"
    if last_login is not None:
        text += f"last_login {last_login}\n" + (f"last_service {service}\n" if service else "")
    for tid, used_until in sorted(tokens):
        text += f"token {tid}\nused_until {used_until}\n"
    return text


def write_state_file(path, text, slot_size=1024):
    """Writes `text` as the only record of a two-slot state file (slot_file.h),
    durable, in the first of two `slot_size` slots; the file root's, 0600."""
    head = state_files.MAGIC + struct.pack("<QIIQ", 1, len(text), 1, 0)
    body = text.encode("ascii")
    slot = head + hashlib.sha256(head + body).digest() + body
    assert len(slot) <= slot_size, f"{len(slot)} bytes do not fit a {slot_size}-byte slot"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, slot + bytes(2 * slot_size - len(slot)))
    finally:
        os.close(fd)
    assert state_files.newest_text(path) == text


def state_about_to_grow(sb, tid, used_until, when):
    """A state for `sb`'s account whose text fits its 1 KiB slots, but not
    once a login's charge (a `charge` line and the token's `pending_until`,
    43 bytes) is added: the charge moves it to a file of larger slots
    (n-u-NAME renamed over u-NAME). Padded with records of other tokens
    and a long last_service."""
    room = 1024 - 64 - 10  # the text a 1 KiB slot holds, less 10: the charge's 43 bytes do not fit
    tokens = [(tid, used_until)]
    base = state_text(USER, tokens, when, "s")
    n = 0
    while len(base) + 52 * (n + 1) <= room:
        n += 1
    tokens += [(hashlib.sha256(b"filler %d" % i).hexdigest()[:32], 1) for i in range(n)]
    text = state_text(USER, tokens, when, "s")
    text = state_text(USER, tokens, when, "s" * (1 + room - len(text)))
    assert len(text) == room, len(text)
    os.makedirs(sb.state_dir, 0o700, exist_ok=True)
    write_state_file(sb.state, text)
    os.symlink(os.path.basename(sb.state), os.path.join(sb.state_dir, "t-" + tid))


def blocked_until(record, tid):
    """Codes of time steps ending at or before this are refused by the
    token's record: used, or blocked by an unsettled attempt, which the next
    login settles the strict way (records.h)."""
    token = record["tokens"].get(tid) if record else None
    if token is None:
        return 0
    return max(token["used_until"], token["pending_until"] or 0)


def used_tags(record, tid):
    """The tags of the recovery codes the token's record holds as used (or
    as an unsettled attempt's, which the next login marks used; or as one
    an attempt that died unsettled may have used, which is refused the
    same: records.h, recovery_used)."""
    token = record["tokens"].get(tid) if record else None
    if token is None:
        return set()
    tags = {entry.split(":", 1)[0] for entry in token["recovery_used"]}
    tags.update(token.get("recovery_maybe_used", []))
    if token["pending_recovery"]:
        tags.add(token["pending_recovery"])
    return tags


def check_state_dir(state_dir, account=USER):
    """Problems with state_dir (a list; empty when fine): every state file
    parses (both slots' newest record) and belongs to its account, every
    claim names a state file that exists, and nothing else is there but at
    most one n-u-NAME per state file (a grow that died)."""
    problems = []
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return problems
    for name in names:
        path = os.path.join(state_dir, name)
        if name.startswith("t-"):
            if not re.fullmatch(r"t-[0-9a-f]{32}", name) or not os.path.islink(path):
                problems.append(f"{name}: not a claim")
                continue
            target = os.readlink(path)
            if not re.fullmatch(r"u-[^/]+", target) or not os.path.isfile(os.path.join(state_dir, target)):
                problems.append(f"{name} names {target!r}, which is not a state file here")
        elif name.startswith("n-"):
            if name[2:] not in names:
                problems.append(f"{name} beside no {name[2:]}")
        elif name.startswith("u-"):
            try:
                newest, durable = records(path)
            except (state_files.StateError, UnicodeDecodeError, ValueError) as e:
                problems.append(f"{name} does not parse: {e}")
                continue
            for rec in (newest, durable):
                if rec is not None and rec["account"] != name[2:]:
                    problems.append(f"{name} holds account {rec['account']!r}")
        else:
            problems.append(f"left behind in state_dir: {name}")
    return problems


def leftovers(directory, expected):
    """Names in `directory` other than `expected` (temp files left behind)."""
    try:
        return sorted(set(os.listdir(directory)) - set(expected))
    except FileNotFoundError:
        return []


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
