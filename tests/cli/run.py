#!/usr/bin/python3
"""Tests of totp-enroll (DESIGN section 5) through a pipe and a pseudo-terminal.

Run by `make check-cli`, which sets:
  TOTP_ENROLL      the built totp-enroll
  PAM_TOTP_MODULE  the built pam_totp.so (the join tests log in through it)
  PAM_LOGIN        the built tests/tools/pam_login (pam_login CONFDIR SERVICE USER)
  TIME_SHIM        the built tests/tools/timeshim.c (a simulated clock for
                   pam_login: a later time step without waiting for it)
  TESTS_DATA       tests/data (google-authenticator samples in ga/)

Uses the Python standard library, python3-pexpect, oathtool (codes),
zbarimg (QR decoding) and tests/lib/state_files.py (the module's state). Every test gets its own temp directory (mode 0755, so
the secret-file path checks pass) and a list of clean-up steps that run even
when it fails: processes are killed and reaped, test users deleted, the
directory removed. Tests that need root are skipped otherwise.

    /usr/bin/python3 tests/cli/run.py [NAME_SUBSTRING ...]   (runs the tests whose names contain one)

The last line is "N passed, M failed, K skipped"; the exit status is 1 when
anything failed.
"""

import base64
import json
import os
import pwd
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

import pexpect

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import state_files  # noqa: E402  (tests/lib: the reader of the module's state files)


def _env_path(name):
    value = os.environ.get(name, "")
    if not value:
        sys.stderr.write(f"run.py: set {name} (see `make check-cli`)\n")
        sys.exit(2)
    return os.path.abspath(value)


ENROLL = _env_path("TOTP_ENROLL")
MODULE = _env_path("PAM_TOTP_MODULE")
PAM_LOGIN = _env_path("PAM_LOGIN")
TIME_SHIM = _env_path("TIME_SHIM")
DATA = _env_path("TESTS_DATA")

PROMPT = b"Enter the code from your app: "
# Any of the prompts for a code: "... from your app: ", "... the token
# shows: ", "Press the token's button and enter the code: ".
ANY_CODE_PROMPT = rb"(?:Enter the code from your app|Enter the code the token shows|and enter the code): "
RECOVERY_SYMBOL = "[23456789ABCDEFGHJKMNPQRSTUVWXYZ]"
RECOVERY_RE = re.compile(rf"\b({RECOVERY_SYMBOL}{{4}}-{RECOVERY_SYMBOL}{{4}}-{RECOVERY_SYMBOL}{{4}})\b")
ANSI_RE = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
TIMEOUT = 20  # seconds for any one wait on the tool



# --- runner ------------------------------------------------------------------


class Skip(Exception):
    pass


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def needs_root():
    if os.geteuid() != 0:
        raise Skip("needs root (CI runs as root)")


class Ctx:
    """A test's temp directory and the clean-up steps, run in reverse order."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"totp-cli-{name[:20]}-")
        os.chmod(self.dir, 0o755)
        self._cleanups = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def defer(self, fn, *args):
        self._cleanups.append((fn, args))

    def close(self):
        problems = []
        for fn, args in reversed(self._cleanups):
            try:
                fn(*args)
            except Exception as e:  # keep cleaning up
                problems.append(f"clean-up {getattr(fn, '__name__', fn)}: {e!r}")
        shutil.rmtree(self.dir, ignore_errors=True)
        if os.path.exists(self.dir):
            problems.append(f"clean-up: {self.dir} still exists")
        return problems


def run_tests(selected):
    passed = failed = skipped = 0
    start = time.monotonic()
    for fn in TESTS:
        name = fn.__name__
        if selected and not any(s in name for s in selected):
            continue
        t0 = time.monotonic()
        ctx = Ctx(name)
        outcome, detail = "PASS", ""
        try:
            fn(ctx)
        except Skip as e:
            outcome, detail = "SKIP", str(e)
        except Exception:
            outcome, detail = "FAIL", traceback.format_exc()
        problems = ctx.close()
        if problems and outcome != "FAIL":
            outcome, detail = "FAIL", "\n".join(problems)
        elif problems:
            detail += "\n".join(problems)
        took = time.monotonic() - t0
        if outcome == "PASS":
            passed += 1
            print(f"PASS {name} ({took:.1f}s)")
        elif outcome == "SKIP":
            skipped += 1
            print(f"SKIP {name}: {detail}")
        else:
            failed += 1
            print(f"FAIL {name} ({took:.1f}s)\n{detail.rstrip()}")
        sys.stdout.flush()
    print(f"tests/cli: {time.monotonic() - start:.1f}s")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


# --- helpers: running the tool -----------------------------------------------


def _child_setup(uid=None, gid=None):
    """preexec_fn: default SIGINT (a background shell may have ignored it),
    and optionally another identity."""

    def setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    return setup


def child_env():
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env["TERM"] = "xterm"
    return env


class PipeRun:
    """totp-enroll with standard input, output and error on pipes."""

    def __init__(self, ctx, args, uid=None, gid=None):
        self.proc = subprocess.Popen(
            [ENROLL] + list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ctx.dir,
            env=child_env(),
            preexec_fn=_child_setup(uid, gid),
        )
        ctx.defer(self._kill)
        self.out = b""
        self.err = b""
        self._pos = 0

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None and not f.closed:
                try:
                    f.close()
                except BrokenPipeError:
                    pass

    def expect(self, pattern, timeout=TIMEOUT):
        """Waits for `pattern` (bytes regex) on standard output after the last match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            m = rx.search(self.out, self._pos)
            if m:
                self._pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timeout waiting for {pattern!r}; output:\n{self.out.decode(errors='replace')}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    rest = self.proc.stderr.read() if self.proc.stderr else b""
                    self.err += rest
                    raise AssertionError(
                        f"end of output waiting for {pattern!r}; output:\n{self.out.decode(errors='replace')}"
                        f"\nstderr:\n{rest.decode(errors='replace')}")
                self.out += chunk

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self, timeout=TIMEOUT):
        """Closes standard input, collects the rest, returns the exit status."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except BrokenPipeError:
            out, err = self.proc.stdout.read(), self.proc.stderr.read()
            self.proc.wait(timeout=timeout)
        self.out += out
        self.err += err
        return self.proc.returncode

    @property
    def text(self):
        return self.out.decode(errors="replace")

    @property
    def errtext(self):
        return self.err.decode(errors="replace")


def run_tool(ctx, args, stdin=b"", uid=None, gid=None, timeout=TIMEOUT):
    """Runs totp-enroll to the end with `stdin` piped in; returns (rc, out, err) as str."""
    r = subprocess.run(
        [ENROLL] + list(args),
        input=stdin if isinstance(stdin, bytes) else stdin.encode(),
        capture_output=True,
        cwd=ctx.dir,
        env=child_env(),
        preexec_fn=_child_setup(uid, gid),
        timeout=timeout,
    )
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def spawn_pty(ctx, args):
    child = pexpect.spawn(ENROLL, list(args), cwd=ctx.dir, env=child_env(), timeout=TIMEOUT,
                          dimensions=(200, 250), preexec_fn=_child_setup())

    def close():
        if child.isalive():
            child.close(force=True)
        elif not child.closed:
            child.close()

    ctx.defer(close)
    return child


# --- helpers: URI, codes, QR ---------------------------------------------------


def uri_params(uri):
    parsed = urllib.parse.urlsplit(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc in ("totp", "hotp"), uri
    q = urllib.parse.parse_qs(parsed.query, strict_parsing=True)
    assert all(len(v) == 1 for v in q.values()), f"repeated parameter in {uri}"
    return {k: v[0] for k, v in q.items()}


def oath_code(secret, algorithm="SHA1", digits=6, period=30):
    """The current code, from oathtool (the reference implementation)."""
    args = ["oathtool", f"--totp={algorithm.lower()}", "-d", str(digits), "-s", f"{period}s", "-b", secret]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=10).stdout.strip()


def code_for_uri(uri):
    p = uri_params(uri)
    return oath_code(p["secret"], p.get("algorithm", "SHA1"), int(p.get("digits", 6)), int(p.get("period", 30)))


def b32decode(text):
    text = text.strip().upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def wrong_code(uri):
    """A code that is not valid within a minute either side of now: the right
    one (from oathtool) shifted, checked against the neighbouring steps with
    oathtool's own window listing."""
    p = uri_params(uri)
    digits = int(p.get("digits", 6))
    period = int(p.get("period", 30))
    alg = p.get("algorithm", "SHA1").lower()
    steps = 120 // period + 2
    out = subprocess.run(
        ["oathtool", f"--totp={alg}", "-d", str(digits), "-s", f"{period}s", "-w", str(2 * steps),
         "-N", f"@{int(time.time()) - steps * period}", "-b", p["secret"]],
        check=True, capture_output=True, text=True, timeout=10).stdout.split()
    valid = set(out)
    n = int(out[0])
    while f"{n:0{digits}d}" in valid:
        n = (n + 1) % 10 ** digits
    return f"{n:0{digits}d}"


def qr_block(output):
    """The text between the QR heading and the URI line, split into rows."""
    output = output.replace(b"\r\n", b"\n")
    head = b"Scan this QR code with your authenticator app:\n\n"
    start = output.index(head) + len(head)
    end = output.index(b"\nURI: ", start)
    rows = output[start:end].split(b"\n")
    while rows and rows[-1] == b"":
        rows.pop()
    assert rows, "no QR rows"
    return rows


def qr_matrix(rows, style):
    """Turns the drawn rows back into a square matrix of modules (True = dark),
    checking that every character is one the style uses (core/qr_text.cpp)."""
    matrix = []
    if style == "ascii":
        for row in rows:
            assert b"\x1b" not in row, "escape sequence in --qr ascii"
            assert len(row) % 2 == 0, f"odd ascii row {row!r}"
            cells = [row[i:i + 2] for i in range(0, len(row), 2)]
            assert all(c in (b"##", b"  ") for c in cells), f"unexpected ascii cell in {row!r}"
            matrix.append([c == b"##" for c in cells])
    elif style == "ansi":
        cell = re.compile(rb"\x1b\[(40|47)m  ")
        for row in rows:
            assert row.endswith(b"\x1b[0m"), f"ansi row without reset: {row!r}"
            body = row[: -len(b"\x1b[0m")]
            cells = cell.findall(body)
            assert cell.sub(b"", body) == b"", f"unexpected text in ansi row {row!r}"
            matrix.append([c == b"40" for c in cells])
    elif style == "utf8":
        glyph = {" ": (False, False), "\u2580": (True, False), "\u2584": (False, True), "\u2588": (True, True)}
        for row in rows:
            assert row.startswith(b"\x1b[30;47m") and row.endswith(b"\x1b[0m"), f"utf8 row colours: {row!r}"
            chars = row[len(b"\x1b[30;47m"): -len(b"\x1b[0m")].decode("utf-8")
            assert all(ch in glyph for ch in chars), f"unexpected utf8 glyph in {chars!r}"
            matrix.append([glyph[ch][0] for ch in chars])
            matrix.append([glyph[ch][1] for ch in chars])
        size = len(matrix[0])
        # Two module rows per text row: an odd size leaves a light half row.
        assert len(rows) == (size + 1) // 2, f"{len(rows)} utf8 rows for {size} modules"
        if len(matrix) > size:
            assert not any(matrix[-1]), "the padding half row is not light"
            matrix.pop()
    else:
        raise ValueError(style)
    size = len(matrix)
    assert all(len(r) == size for r in matrix), f"QR is not square: {size} rows, widths {set(map(len, matrix))}"
    # A QR symbol is 21 + 4k modules, plus the quiet zone of 4 on each side.
    assert (size - 8 - 21) % 4 == 0 and size >= 29, f"odd QR size {size}"
    for i in range(4):  # the quiet zone is light
        assert not any(matrix[i]) and not any(matrix[-1 - i]), "quiet zone not light"
        assert not any(r[i] or r[-1 - i] for r in matrix), "quiet zone not light"
    return matrix


def decode_qr(ctx, matrix, scale=6, margin=4):
    """Writes the matrix as a PBM (P1) and decodes it with zbarimg."""
    size = len(matrix)
    px = (size + 2 * margin) * scale
    lines = ["P1", f"{px} {px}"]
    blank = "0" * px
    for _ in range(margin * scale):
        lines.append(blank)
    for row in matrix:
        line = "0" * (margin * scale) + "".join(("1" if d else "0") * scale for d in row) + "0" * (margin * scale)
        lines.extend([line] * scale)
    for _ in range(margin * scale):
        lines.append(blank)
    path = ctx.path(f"qr-{time.monotonic_ns()}.pbm")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True, timeout=30)
    os.unlink(path)
    assert r.returncode == 0, f"zbarimg found no code (rc {r.returncode}): {r.stderr!r}"
    return r.stdout.decode().rstrip("\n")


# --- helpers: the secret file --------------------------------------------------

SECRET_KEYS = {"secret", "algorithm", "digits", "period", "enrolled", "enrollment_id"}
OPTIONAL_KEYS = {"window", "confirmed"}


def read_secret_file(path):
    """Parses a v1 secret file (pam_totp-secret(5)) strictly enough to notice
    a wrong shape: version line first, known keys, no duplicates."""
    with open(path, encoding="ascii") as f:
        text = f.read()
    lines = text.split("\n")
    assert lines[0] == "version 1", f"first line {lines[0]!r}"
    kv = {"recovery": []}
    for line in lines[1:]:
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(" ")
        assert sep and value, f"bad line {line!r}"
        if key == "recovery":
            kv["recovery"].append(value)
            continue
        assert key in SECRET_KEYS | OPTIONAL_KEYS, f"unknown key {key!r}"
        assert key not in kv, f"duplicate key {key!r}"
        kv[key] = value
    assert SECRET_KEYS <= kv.keys(), f"missing keys {SECRET_KEYS - kv.keys()}"
    assert re.fullmatch(r"[0-9a-f]{32}", kv["enrollment_id"]), kv["enrollment_id"]
    assert re.fullmatch(r"[0-9]+", kv["enrolled"])
    assert "confirmed" not in kv or re.fullmatch(r"[1-9][0-9]*", kv["confirmed"]), kv["confirmed"]
    for h in kv["recovery"]:
        # What totp-enroll writes (and all the module accepts): yescrypt at
        # its fixed cost, 22 salt characters, 43 hash characters.
        assert re.fullmatch(r"\$y\$j9T\$[./0-9A-Za-z]{22}\$[./0-9A-Za-z]{43}", h), f"recovery hash {h!r}"
    return kv, text


def check_secret_file(path, uid, codes=(), uri=None, confirmed=None):
    """The file's mode, owner, recovery hashes and parameters. `confirmed`
    (default: when a `uri` is given, i.e. after an enrollment confirmed with
    a code): the file records the end of the time step whose code confirmed
    the enrollment (pam_totp refuses that code and every earlier one); an
    import, which confirms nothing, records none."""
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), "not a regular file"
    assert stat.S_IMODE(st.st_mode) == 0o600, f"mode {stat.S_IMODE(st.st_mode):o}"
    assert st.st_uid == uid, f"owner {st.st_uid}, expected {uid}"
    kv, text = read_secret_file(path)
    assert len(kv["recovery"]) == len(codes), f"{len(kv['recovery'])} hashes for {len(codes)} codes"
    lowered = text.lower()
    for code in codes:
        for form in (code, code.replace("-", ""), code.replace("-", " ")):
            assert form.lower() not in lowered, "a recovery code appears in the secret file"
    if uri is not None:
        p = uri_params(uri)
        assert b32decode(kv["secret"]) == b32decode(p["secret"]), "the file's secret is not the URI's"
        assert kv["algorithm"] == p.get("algorithm", "SHA1").lower()
        assert kv["digits"] == p.get("digits", "6")
        assert kv["period"] == p.get("period", "30")
    if confirmed is None:
        confirmed = uri is not None
    if confirmed:
        assert "confirmed" in kv, "the enrollment's confirmation step is not recorded (finding 7 of issue 12)"
        period = int(kv["period"])
        end = int(kv["confirmed"])
        # The end of a step within the window (1) of the moment the code was
        # typed, which is after `enrolled` and before now.
        assert end % period == 0, f"confirmed {end} is not the end of a {period}-second step"
        assert int(kv["enrolled"]) // period * period <= end <= time.time() + 2 * period, \
            f"confirmed {end}, enrolled {kv['enrolled']}, now {time.time():.0f}"
    else:
        assert "confirmed" not in kv, f"confirmed {kv['confirmed']} in a file no code confirmed"
    return kv


def check_lock_file(path, uid):
    """totp-enroll's editing lock beside a secret file (.NAME.lock): empty,
    a regular file, mode 0600 and owned by whoever edited (so nobody else can
    open it to hold the lock)."""
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), f"{path}: not a regular file"
    assert stat.S_IMODE(st.st_mode) == 0o600, f"{path}: mode {stat.S_IMODE(st.st_mode):o}"
    assert st.st_uid == uid, f"{path}: owner {st.st_uid}, expected {uid}"
    assert st.st_size == 0 and st.st_nlink == 1, f"{path}: {st.st_size} bytes, {st.st_nlink} links"


def no_leftovers(ctx, secret="secret", written=False, allowed=(), lock=None):
    """The temp dir holds the secret file `secret` only when `written`, the
    names in `allowed`, and no temp file: of the names `.secret.*`, only the
    lock totp-enroll keeps beside the file (checked by check_lock_file;
    `lock` True: it must be there, False: it must not, None: either)."""
    entries = set(os.listdir(ctx.dir))
    if written:
        assert secret in entries, f"{secret} was not written"
    else:
        assert secret not in entries, f"{secret} was written"
    lock_name = f".{secret}.lock"
    temps = [e for e in entries if e.startswith("." + secret + ".") and e != lock_name]
    assert not temps, f"temp files left: {temps}"
    if lock_name in entries:
        assert lock is not False, f"{lock_name} created"
        check_lock_file(ctx.path(lock_name), os.geteuid())
    else:
        assert not lock, f"no {lock_name}"
    extra = entries - set(allowed) - {secret, lock_name}
    assert not extra, f"unexpected files: {extra}"


def recovery_codes(text):
    return RECOVERY_RE.findall(text)


def base_args(path):
    return ["--secret-file", path, "--issuer", "CliTest", "--label", "alice@example"]


def enroll_pipe(ctx, path, extra=(), expect_codes=10):
    """Enrolls through pipes with an oathtool code; returns (uri, codes, run)."""
    r = PipeRun(ctx, base_args(path) + list(extra))
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    r.expect(PROMPT)
    r.send(code_for_uri(uri) + "\n")
    rc = r.finish()
    assert rc == 0, f"enroll exit {rc}: {r.errtext}\n{r.text}"
    codes = recovery_codes(r.text)
    assert len(codes) == expect_codes, f"{len(codes)} recovery codes printed"
    assert len(set(codes)) == len(codes), "repeated recovery code"
    return uri, codes, r


# --- helpers: logging in through the module ----------------------------------


def pam_service(ctx, secret, extra=""):
    confdir = ctx.path("pam.d")
    os.makedirs(confdir, exist_ok=True)
    with open(os.path.join(confdir, "totp-cli"), "w") as f:
        f.write(f"auth required {MODULE} secret={secret} state_dir={ctx.path('state')} {extra}\n")
    return confdir


def pam_login(confdir, user, answer, later=0):
    """One login through pam_login with the simulated clock (TIME_SHIM)
    `later` seconds ahead of the real one: a later time step without waiting
    for it (pam_login is not setuid, so the shim loads)."""
    clock = os.path.join(os.path.dirname(confdir), "clock")
    with open(clock, "w") as f:
        f.write(f"{later}\n")
    env = dict(os.environ, LD_PRELOAD=TIME_SHIM, TIME_SHIM_FILE=clock)
    r = subprocess.run([PAM_LOGIN, confdir, "totp-cli", user], input=(answer + "\n").encode(),
                       capture_output=True, timeout=30, env=env)
    out = r.stdout.decode(errors="replace")
    assert "PAM result: " in out, f"pam_login printed no result (rc {r.returncode}): {out}{r.stderr!r}"
    return r.returncode, out


def login_ok(confdir, user, answer, what, later=0):
    rc, out = pam_login(confdir, user, answer, later)
    assert rc == 0 and "PAM result: Success" in out, f"{what} refused: {out}"


def login_refused(confdir, user, answer, what, later=0):
    rc, out = pam_login(confdir, user, answer, later)
    assert rc == 1 and "PAM result: Success" not in out, f"{what} accepted: {out}"
    return out


def code_at(secret, when, period=30):
    """The code of the time step holding Unix time `when` (oathtool)."""
    args = ["oathtool", "--totp=sha1", "-s", f"{period}s", "-N", f"@{int(when)}", "-b", secret]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=10).stdout.strip()


def later_code(secret, later, period=30):
    """The code of the time step `later` seconds from now (for pam_login
    run with the same `later`)."""
    return code_at(secret, time.time() + later, period)


def state_of(ctx, account):
    """The account's state (tests/lib/state_files.py) in the test's state_dir."""
    return state_files.account_state(ctx.path("state"), account)


def token_of(ctx, secret_b32):
    """The replay record of the secret (by its token id), through its claim."""
    return state_files.token_record(ctx.path("state"), state_files.token_id(b32decode(secret_b32)))


# --- helpers: tokens (format 2 secret files, HOTP) -----------------------------

V2_FILE_KEYS = {"enrolled", "enrollment_id", "window", "recovery_anchor"}
V2_TOKEN_KEYS = {"type", "secret", "algorithm", "digits", "period", "offset", "counter", "added", "confirmed"}

# RFC 4226 Appendix D: the key "12345678901234567890" and its codes for the
# counters 0 to 9.
RFC4226_KEY_B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
RFC4226_KEY_HEX = "3132333435363738393031323334353637383930"
RFC4226_CODES = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]


def read_tokens_file(path):
    """Any secret file (pam_totp-secret(5)) as (file keys, tokens, text): a
    format 1 file as the one token "default" it stands for; format 2 strictly
    (known keys, no duplicates, the file's keys before the first token)."""
    with open(path, encoding="ascii") as f:
        text = f.read()
    first = text.split("\n", 1)[0]
    if first == "version 1":
        kv, _ = read_secret_file(path)
        token = {"name": "default", "type": "totp", "added": kv["enrolled"]}
        token.update({k: kv[k] for k in ("secret", "algorithm", "digits", "period", "confirmed") if k in kv})
        keys = {k: kv[k] for k in ("enrolled", "enrollment_id", "window") if k in kv}
        keys["recovery"] = kv["recovery"]
        return keys, [token], text
    assert first == "version 2", f"first line {first!r}"
    keys = {"recovery": []}
    tokens = []
    for line in text.split("\n")[1:]:
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(" ")
        assert sep and value and " " not in value, f"bad line {line!r}"
        if key == "token":
            assert all(t["name"] != value for t in tokens), f"token {value} twice"
            tokens.append({"name": value})
        elif not tokens:
            if key == "recovery":
                keys["recovery"].append(value)
                continue
            assert key in V2_FILE_KEYS and key not in keys, f"file key {key!r}"
            keys[key] = value
        else:
            assert key in V2_TOKEN_KEYS and key not in tokens[-1], f"token key {key!r} in {tokens[-1]['name']}"
            tokens[-1][key] = value
    assert tokens, "no token"
    assert re.fullmatch(r"[0-9a-f]{32}", keys["enrollment_id"]), keys
    for t in tokens:
        assert t["type"] in ("totp", "hotp"), t
        assert ("period" in t) == (t["type"] == "totp") and ("counter" in t) == (t["type"] == "hotp"), t
    return keys, tokens, text


def check_mode(path, uid):
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, f"mode {stat.S_IMODE(st.st_mode):o}"
    assert st.st_uid == uid, f"owner {st.st_uid}, expected {uid}"


def token_named(path, name):
    tokens = read_tokens_file(path)[1]
    found = [t for t in tokens if t["name"] == name]
    assert found, f"no token {name} in {[t['name'] for t in tokens]}"
    return found[0]


def hotp_code(secret_b32, counter, digits=6):
    """The HOTP code of `counter` (oathtool)."""
    args = ["oathtool", "--hotp", "-c", str(counter), "-d", str(digits), "-b", secret_b32]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=10).stdout.strip()


def write_private(ctx, name, text, mode=0o600):
    path = ctx.path(name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def fresh_step(margin=6, period=30):
    """Waits, if need be, until at least `margin` seconds of the current
    time step are left, so that codes computed now are still the current
    ones when the tool checks them."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 0.2)


def add_token(ctx, path, name, extra=(), code_for=None):
    """totp-enroll --add through pipes: for a new secret, the code from the
    printed URI (oathtool); returns (uri or None, run)."""
    r = PipeRun(ctx, ["--add", "--name", name, "--secret-file", path, "--issuer", "CliTest"] + list(extra))
    uri = None
    if code_for is None:
        uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
        code = hotp_code(uri_params(uri)["secret"], int(uri_params(uri)["counter"])) \
            if uri.startswith("otpauth://hotp/") else code_for_uri(uri)
    else:
        code = code_for
    r.expect(ANY_CODE_PROMPT)
    r.send(code + "\n")
    rc = r.finish()
    assert rc == 0, f"--add {name}: exit {rc}: {r.errtext}\n{r.text}"
    return uri, r


def enroll_from_secret(ctx, path, secret_text, code, extra=(), name="key"):
    """Enrolls the secret in a private file through --secret-from, confirmed
    with `code`; returns the run."""
    src = write_private(ctx, name, secret_text)
    r = PipeRun(ctx, ["--secret-file", path, "--secret-from", src] + list(extra))
    r.expect(ANY_CODE_PROMPT)
    r.send(code + "\n")
    rc = r.finish()
    assert rc == 0, f"exit {rc}: {r.errtext}\n{r.text}"
    return r


# --- helpers: users -------------------------------------------------------------


def make_user(ctx):
    """A throw-away user with its home (0755, owned by it) in the temp dir."""
    needs_root()
    name = "tcli" + os.urandom(4).hex()
    home = ctx.path("home")

    def remove_user():
        try:
            pwd.getpwnam(name)
        except KeyError:
            return
        subprocess.run(["userdel", name], check=True, capture_output=True, timeout=30)
        subprocess.run(["groupdel", name], capture_output=True, timeout=30)  # if userdel left it

    ctx.defer(remove_user)
    subprocess.run(["useradd", "-M", "-U", "-d", home, "-s", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=30)
    pw = pwd.getpwnam(name)
    os.mkdir(home, 0o755)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    return pw


# --- tests: the QR code -----------------------------------------------------------


def pty_enroll_decodes(ctx, style):
    path = ctx.path("secret")
    args = base_args(path) + (["--qr", style] if style != "default" else [])
    child = spawn_pty(ctx, args)
    child.expect(rb"URI: (\S+)\r\n")
    uri = child.match.group(1).decode()
    screen = child.before + child.after
    child.expect(PROMPT)
    matrix = qr_matrix(qr_block(screen), "utf8" if style == "default" else style)
    decoded = decode_qr(ctx, matrix)
    assert decoded == uri, f"QR says {decoded!r}, URI line {uri!r}"
    child.sendline(code_for_uri(uri))
    child.expect(pexpect.EOF)
    rest = child.before.decode(errors="replace")
    child.close()
    assert child.exitstatus == 0, f"exit {child.exitstatus} {child.signalstatus}: {rest}"
    assert "Enrolled " in rest, rest
    codes = recovery_codes(rest)
    assert len(codes) == 10, f"{len(codes)} recovery codes"
    check_secret_file(path, os.geteuid(), codes, uri)
    no_leftovers(ctx, written=True, lock=True)


@test
def pty_qr_utf8_decodes_to_uri(ctx):
    pty_enroll_decodes(ctx, "utf8")


@test
def pty_qr_ansi_decodes_to_uri(ctx):
    pty_enroll_decodes(ctx, "ansi")


@test
def pty_qr_ascii_decodes_to_uri(ctx):
    pty_enroll_decodes(ctx, "ascii")


@test
def pty_default_qr_is_utf8(ctx):
    pty_enroll_decodes(ctx, "default")


@test
def pipe_default_has_no_qr_and_no_escapes(ctx):
    path = ctx.path("secret")
    uri, codes, r = enroll_pipe(ctx, path)
    assert b"\x1b" not in r.out and b"\x1b" not in r.err, "escape sequence on a pipe"
    assert "Scan this QR code" not in r.text
    # The secret by hand, in groups of four, is the URI's.
    m = re.search(r"Or type this secret by hand: ([A-Z2-7 ]+)\n", r.text)
    assert m, r.text
    assert re.fullmatch(r"([A-Z2-7]{4} )*[A-Z2-7]{1,4}", m.group(1)), m.group(1)
    assert m.group(1).replace(" ", "") == uri_params(uri)["secret"]
    assert uri.startswith("otpauth://totp/CliTest:alice%40example?secret="), uri
    p = uri_params(uri)
    assert set(p) == {"secret", "issuer"}, f"default parameters in the URI: {uri}"
    assert p["issuer"] == "CliTest"
    assert len(b32decode(p["secret"])) == 20
    kv = check_secret_file(path, os.geteuid(), codes, uri)
    assert kv["algorithm"] == "sha1" and kv["digits"] == "6" and kv["period"] == "30"
    assert abs(int(kv["enrolled"]) - time.time()) < 300
    no_leftovers(ctx, written=True, lock=True)


@test
def pipe_qr_ascii_decodes_to_uri(ctx):
    path = ctx.path("secret")
    uri, codes, r = enroll_pipe(ctx, path, ["--qr", "ascii"])
    assert b"\x1b" not in r.out, "escape sequence in --qr ascii output"
    decoded = decode_qr(ctx, qr_matrix(qr_block(r.out), "ascii"))
    assert decoded == uri, f"QR says {decoded!r}, URI line {uri!r}"
    check_secret_file(path, os.geteuid(), codes, uri)


@test
def pipe_qr_none_prints_no_qr(ctx):
    path = ctx.path("secret")
    _, _, r = enroll_pipe(ctx, path, ["--qr", "none", "--recovery-codes", "0"], expect_codes=0)
    assert "Scan this QR code" not in r.text and "##" not in r.text
    assert "Recovery codes" not in r.text, "a recovery box for zero codes"
    kv, _ = read_secret_file(path)
    assert kv["recovery"] == []


@test
def non_default_parameters(ctx):
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path) + ["--algorithm", "sha256", "--digits", "8", "--period", "60",
                                        "--recovery-codes", "2"])
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    r.expect(PROMPT)
    assert "algorithm=SHA256&digits=8&period=60" in uri, uri
    assert re.search(r"Warning: SHA256, 8 digits, 60-second period", r.text), r.text
    p = uri_params(uri)
    code = oath_code(p["secret"], "sha256", 8, 60)
    assert len(code) == 8
    r.send(code + "\n")
    rc = r.finish()
    assert rc == 0, f"exit {rc}: {r.errtext}"
    codes = recovery_codes(r.text)
    assert len(codes) == 2
    kv = check_secret_file(path, os.geteuid(), codes, uri)
    assert kv["algorithm"] == "sha256" and kv["digits"] == "8" and kv["period"] == "60"


@test
def non_default_parameters_sha512(ctx):
    path = ctx.path("secret")
    uri, codes, _ = enroll_pipe(ctx, path, ["--algorithm", "sha512", "--period", "15", "--recovery-codes", "1"],
                                expect_codes=1)
    p = uri_params(uri)
    assert p.get("algorithm") == "SHA512" and p.get("period") == "15" and "digits" not in p, uri
    check_secret_file(path, os.geteuid(), codes, uri)


@test
def wrong_code_hint_and_second_try(ctx):
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path) + ["--recovery-codes", "1"])
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    r.expect(PROMPT)
    r.send(wrong_code(uri) + "\n")
    r.expect(rb"does not match.*2 tries left")
    r.expect(PROMPT)
    # Apps show "123 456": spaces are dropped.
    code = code_for_uri(uri)
    r.send(code[:3] + " " + code[3:] + "\n")
    rc = r.finish()
    assert rc == 0, f"exit {rc}: {r.errtext}"
    check_secret_file(path, os.geteuid(), recovery_codes(r.text), uri)


# --- tests: nothing written on failure ------------------------------------------


@test
def three_wrong_codes_write_nothing(ctx):
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path))
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    bad = wrong_code(uri)
    for _ in range(3):
        r.expect(PROMPT)
        r.send(bad + "\n")
    rc = r.finish()
    assert rc == 1, f"exit {rc}"
    assert "3 wrong codes" in r.errtext and "nothing was written" in r.errtext, r.errtext
    assert r.text.count("Enter the code from your app: ") == 3, "not exactly three prompts"
    assert not recovery_codes(r.text), "recovery codes printed after a failed enrollment"
    no_leftovers(ctx)


@test
def end_of_input_writes_nothing(ctx):
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path))
    r.expect(PROMPT)
    rc = r.finish()  # closes standard input
    assert rc == 1, f"exit {rc}"
    assert "end of input" in r.errtext, r.errtext
    no_leftovers(ctx)


@test
def end_of_input_after_wrong_code_writes_nothing(ctx):
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path))
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    r.expect(PROMPT)
    r.send(wrong_code(uri) + "\n")
    r.expect(PROMPT)
    rc = r.finish()
    assert rc == 1, f"exit {rc}"
    no_leftovers(ctx)


@test
def sigint_on_pty_writes_nothing(ctx):
    path = ctx.path("secret")
    child = spawn_pty(ctx, base_args(path))
    child.expect(PROMPT)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus == signal.SIGINT or child.exitstatus == 1, \
        f"exit {child.exitstatus}, signal {child.signalstatus}"
    no_leftovers(ctx)


@test
def sigint_on_pipe_writes_nothing(ctx):
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path))
    r.expect(PROMPT)
    os.kill(r.proc.pid, signal.SIGINT)
    rc = r.finish()
    assert rc in (1, -signal.SIGINT), f"exit {rc}"
    no_leftovers(ctx)


@test
def missing_directory_is_refused_early(ctx):
    path = ctx.path("nodir", "secret")
    rc, out, err = run_tool(ctx, base_args(path))
    assert rc == 1, f"exit {rc}"
    assert "create the directory" in err, err
    assert "Enter the code" not in out, "asked for a code although the file cannot be written"
    no_leftovers(ctx)


@test
def group_writable_directory_is_refused(ctx):
    d = ctx.path("open")
    os.mkdir(d)
    os.chmod(d, 0o775)
    rc, out, err = run_tool(ctx, base_args(os.path.join(d, "secret")))
    assert rc == 1, f"exit {rc}"
    assert "Enter the code" not in out
    assert os.listdir(d) == [], os.listdir(d)


# --- tests: existing enrollment ---------------------------------------------------


@test
def existing_enrollment_needs_force(ctx):
    path = ctx.path("secret")
    enroll_pipe(ctx, path, ["--recovery-codes", "1"], expect_codes=1)
    with open(path, "rb") as f:
        before = f.read()
    rc, out, err = run_tool(ctx, base_args(path))
    assert rc == 1, f"exit {rc}"
    assert "--force" in err, err
    assert "Enter the code" not in out, "asked for a code before refusing"
    with open(path, "rb") as f:
        assert f.read() == before, "the file changed"

    # --force, but the code is never confirmed: still unchanged.
    r = PipeRun(ctx, base_args(path) + ["--force"])
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    bad = wrong_code(uri)
    for _ in range(3):
        r.expect(PROMPT)
        r.send(bad + "\n")
    assert r.finish() == 1
    with open(path, "rb") as f:
        assert f.read() == before, "the file changed without a confirmed code"
    no_leftovers(ctx, written=True, lock=True)

    # --force with the right code: replaced.
    old, _ = read_secret_file(path)
    uri, codes, _ = enroll_pipe(ctx, path, ["--force", "--recovery-codes", "2"], expect_codes=2)
    new = check_secret_file(path, os.geteuid(), codes, uri)
    assert b32decode(new["secret"]) != b32decode(old["secret"]), "the secret was not replaced"
    assert new["enrollment_id"] != old["enrollment_id"], "the enrollment id was not replaced"
    no_leftovers(ctx, written=True, lock=True)


# --- tests: --user ------------------------------------------------------------------


@test
def user_option_refused_for_non_root(ctx):
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        d = ctx.path("nobody")
        os.mkdir(d, 0o755)
        os.chown(d, uid, gid)
        target = "root"
    else:
        uid = gid = None
        d = ctx.path("me")
        os.mkdir(d, 0o755)
        target = "root" if os.geteuid() != 0 else "nobody"
    try:
        rc, out, err = run_tool(ctx, ["--user", target, "--secret-file", os.path.join(d, "secret")],
                                stdin=b"123456\n", uid=uid, gid=gid)
    except (PermissionError, subprocess.SubprocessError) as e:
        raise Skip(f"cannot run {ENROLL} as nobody: {e}")
    if rc == 126 or "Permission denied" in err and "totp-enroll:" not in err:
        raise Skip(f"nobody cannot execute {ENROLL}")
    assert rc == 1, f"exit {rc}: {err}"
    assert "needs root" in err and "--user" in err, err
    assert "Enter the code" not in out
    assert os.listdir(d) == [], os.listdir(d)


@test
def user_option_as_root_owns_file(ctx):
    pw = make_user(ctx)
    path = os.path.join(pw.pw_dir, ".pam_totp")
    r = PipeRun(ctx, ["--user", pw.pw_name, "--issuer", "CliTest", "--recovery-codes", "2"])
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    assert f":{pw.pw_name}%40" in uri, f"default label does not name the user: {uri}"
    r.expect(PROMPT)
    code = code_for_uri(uri)
    r.send(code + "\n")
    rc = r.finish()
    assert rc == 0, f"exit {rc}: {r.errtext}"
    codes = recovery_codes(r.text)
    check_secret_file(path, pw.pw_uid, codes, uri)
    assert os.stat(path).st_gid == pw.pw_gid
    # The editing lock beside it is the user's too (root edits a home file
    # with the user's identity), so the user can still edit it later.
    assert sorted(os.listdir(pw.pw_dir)) == ["..pam_totp.lock", ".pam_totp"], os.listdir(pw.pw_dir)
    check_lock_file(os.path.join(pw.pw_dir, "..pam_totp.lock"), pw.pw_uid)

    # The module reads it from the home as that user: the enrollment code
    # was seen on the screen and is refused; a later code joins, once.
    confdir = pam_service(ctx, "~/.pam_totp")
    login_refused(confdir, pw.pw_name, code, "the enrollment code")
    later = 3 * 30
    fresh = later_code(uri_params(uri)["secret"], later)
    login_ok(confdir, pw.pw_name, fresh, "a later code", later)
    login_refused(confdir, pw.pw_name, fresh, "the same code again", later)
    login_ok(confdir, pw.pw_name, codes[0], "a recovery code", later)

    rc, out, err = run_tool(ctx, ["--status", "--json", "--user", pw.pw_name, "--state-dir", ctx.path("state")])
    assert rc == 0, err
    st = json.loads(out)
    assert st["user"] == pw.pw_name and st["secret_file"] == path and st["enrolled"] is True
    assert st["recovery_codes"] == 2 and st["recovery_codes_unused"] == 1, st


@test
def user_option_does_not_follow_the_users_symlinks(ctx):
    """Root working for a user acts with the user's file-system identity: a
    symlink in the home to a root-owned directory leads nowhere the user
    could not go (no root file removed, replaced, read or created, and no
    lock file created there either)."""
    pw = make_user(ctx)
    rootdir = ctx.path("rootdir")
    os.mkdir(rootdir, 0o755)
    victim = os.path.join(rootdir, "totp")
    with open(victim, "w") as f:
        f.write("version 1\nroot's own file\n")
    os.chmod(victim, 0o600)
    before = open(victim, "rb").read()
    os.symlink(rootdir, os.path.join(pw.pw_dir, ".cfg"))
    target = ["--user", pw.pw_name, "--secret-file", "~/.cfg/totp"]

    rc, _, err = run_tool(ctx, target + ["--remove", "--force"])
    assert rc == 1 and "Permission denied" in err, f"--remove through the user's symlink: exit {rc}: {err}"
    rc, out, err = run_tool(ctx, target + ["--status"])
    assert rc == 1 and "root's own" not in out, f"--status read root's file: exit {rc}: {out}{err}"
    rc, out, err = run_tool(ctx, target + ["--new-recovery-codes", "--force"])
    assert rc == 1 and "Permission denied" in err, f"--new-recovery-codes through the symlink: exit {rc}: {err}"
    # Enrolling: refused before the prompt (the user cannot create the lock
    # beside the file), or at the latest when writing; never written.
    r = PipeRun(ctx, target + ["--force", "--qr", "none", "--recovery-codes", "1"])
    rc = None
    try:
        uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
        r.expect(PROMPT)
        r.send(code_for_uri(uri) + "\n")  # the right code: only the write can fail
    except AssertionError:
        pass  # refused before showing anything
    rc = r.finish()
    assert rc == 1 and "Permission denied" in r.errtext, f"enrollment through the symlink: exit {rc}: {r.errtext}"
    assert open(victim, "rb").read() == before and os.stat(victim).st_uid == 0
    assert sorted(os.listdir(rootdir)) == ["totp"], os.listdir(rootdir)


@test
def user_option_unknown_user(ctx):
    rc, out, err = run_tool(ctx, ["--user", "no-such-user-" + os.urandom(3).hex(), "--status"])
    assert rc == 1, f"exit {rc}"
    assert "no such user" in err, err


# --- tests: --status, --new-recovery-codes, --remove -------------------------------


@test
def status_text_and_json(ctx):
    path = ctx.path("secret")
    state = ctx.path("state")
    enroll_pipe(ctx, path, ["--recovery-codes", "3", "--period", "45"], expect_codes=3)
    rc, out, err = run_tool(ctx, ["--status", "--secret-file", path, "--state-dir", state])
    assert rc == 0, err
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert f"User:            {me}\n" in out, out
    assert f"Secret file:     {path}\n" in out, out
    assert "Codes:           SHA1, 6 digits, 45-second period" in out, out
    assert "Recovery codes:  3 stored, 3 unused" in out, out
    rc, out, err = run_tool(ctx, ["--status", "--json", "--secret-file", path, "--state-dir", state])
    assert rc == 0, err
    st = json.loads(out)
    assert st["enrolled"] is True
    assert st["algorithm"] == "sha1" and st["digits"] == 6 and st["period"] == 45, st
    assert st["recovery_codes"] == 3 and st["recovery_codes_unused"] == 3, st
    assert st["secret_file"] == path and st["user"] == me
    assert st["window"] is None
    kv, text = read_secret_file(path)
    assert kv["secret"] not in out, "--status --json shows the secret"
    assert not any(h in out for h in kv["recovery"]), "--status shows a hash"


@test
def status_counts_used_recovery_codes(ctx):
    needs_root()
    path = ctx.path("secret")
    state = ctx.path("state")
    _, codes, _ = enroll_pipe(ctx, path, ["--recovery-codes", "3"], expect_codes=3)
    confdir = pam_service(ctx, path)
    login_ok(confdir, "root", codes[1], "a recovery code")
    st = json.loads(run_tool(ctx, ["--status", "--json", "--secret-file", path, "--state-dir", state])[1])
    assert st["recovery_codes"] == 3 and st["recovery_codes_unused"] == 2, st
    rc, out, err = run_tool(ctx, ["--status", "--secret-file", path, "--state-dir", state])
    assert rc == 0 and "Recovery codes:  3 stored, 2 unused" in out, (rc, out, err)
    # What it counted from: the token's record, one used code.
    kv, _ = read_secret_file(path)
    record = token_of(ctx, kv["secret"])
    assert record is not None and len(record["recovery_used"]) == 1, record


@test
def status_names_the_store_it_could_not_read(ctx):
    """--status --store postgresql reads the shared store (store.conf); when
    that cannot be read the count is unknown (null), never a full count from
    the wrong store, and stderr says why and what to check."""
    needs_root()
    path = ctx.path("secret")
    conf = ctx.path("no-store.conf")
    enroll_pipe(ctx, path, ["--recovery-codes", "3"], expect_codes=3)
    rc, out, err = run_tool(ctx, ["--status", "--json", "--secret-file", path, "--store", "postgresql",
                                  "--store-config", conf])
    assert rc == 0, err
    st = json.loads(out)
    assert st["recovery_codes"] == 3 and st["recovery_codes_unused"] is None, st
    assert conf in err and "--store-config" in err, err
    rc, out, err = run_tool(ctx, ["--status", "--secret-file", path, "--store", "ldap"])
    assert rc == 2 and "--store must be file or postgresql" in err, (rc, err)
    rc, out, err = run_tool(ctx, ["--status", "--secret-file", path, "--store-config", "store.conf"])
    assert rc == 2 and "--store-config must be an absolute path" in err, (rc, err)


@test
def status_counts_used_recovery_codes_by_secret(ctx):
    # The replay record belongs to the secret, whatever path reaches it: a
    # login through secret=DIR/%u uses a recovery code, and --status of the
    # template and of a copy of the file elsewhere both count it.
    needs_root()
    secrets = ctx.path("secrets")
    os.mkdir(secrets, 0o700)
    templ = secrets + "/%u"
    state = ctx.path("state")
    _, codes, _ = enroll_pipe(ctx, templ, ["--recovery-codes", "3"], expect_codes=3)
    confdir = pam_service(ctx, templ)
    login_ok(confdir, "root", codes[0], "a recovery code")
    kv, _ = read_secret_file(os.path.join(secrets, "root"))
    tid = state_files.token_id(b32decode(kv["secret"]))
    assert sorted(os.listdir(state)) == sorted(["u-root", "t-" + tid]), os.listdir(state)
    assert state_files.claims(state) == {tid: "u-root"}, state_files.claims(state)
    assert state_of(ctx, "root")["account"] == "root"
    copy = ctx.path("copy")
    shutil.copyfile(os.path.join(secrets, "root"), copy)
    os.chmod(copy, 0o600)
    for where in (templ, copy):
        st = json.loads(run_tool(ctx, ["--status", "--json", "--secret-file", where, "--state-dir", state])[1])
        assert st["recovery_codes"] == 3 and st["recovery_codes_unused"] == 2, (where, st)
    # And the module agrees: the copy, a second path to the secret, refuses the used code.
    login_refused(pam_service(ctx, copy), "root", codes[0], "a used recovery code through a copy")


@test
def status_recovery_count_needs_root(ctx):
    # The used recovery codes are in the root-only state: a user's own
    # --status says how many are stored and that the unused count is unknown
    # (null), never a count that ignores the used ones; root's counts them.
    pw = make_user(ctx)
    path = os.path.join(pw.pw_dir, ".pam_totp")
    state = ctx.path("state")
    r = PipeRun(ctx, ["--issuer", "CliTest", "--recovery-codes", "2"], uid=pw.pw_uid, gid=pw.pw_gid)
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    r.expect(PROMPT)
    r.send(code_for_uri(uri) + "\n")
    assert r.finish() == 0, r.errtext
    codes = recovery_codes(r.text)
    check_secret_file(path, pw.pw_uid, codes, uri)
    login_ok(pam_service(ctx, "~/.pam_totp"), pw.pw_name, codes[1], "a recovery code")
    rc, out, err = run_tool(ctx, ["--status", "--json", "--state-dir", state], uid=pw.pw_uid, gid=pw.pw_gid)
    assert rc == 0, err
    st = json.loads(out)
    assert st["user"] == pw.pw_name and st["recovery_codes"] == 2 and st["recovery_codes_unused"] is None, st
    rc, out, err = run_tool(ctx, ["--status", "--state-dir", state], uid=pw.pw_uid, gid=pw.pw_gid)
    assert rc == 0 and "Recovery codes:  2 stored (how many are used is known to root only)\n" in out, \
        (rc, out, err)
    st = json.loads(run_tool(ctx, ["--status", "--json", "--user", pw.pw_name, "--state-dir", state])[1])
    assert st["recovery_codes"] == 2 and st["recovery_codes_unused"] == 1, st


@test
def status_not_enrolled(ctx):
    path = ctx.path("secret")
    rc, out, err = run_tool(ctx, ["--status", "--secret-file", path])
    assert rc == 0, err
    assert "not enrolled" in out, out
    rc, out, err = run_tool(ctx, ["--status", "--json", "--secret-file", path])
    assert rc == 0, err
    st = json.loads(out)
    assert st["enrolled"] is False and st["secret_file"] == path, st
    assert "algorithm" not in st
    no_leftovers(ctx)


@test
def status_of_a_broken_file_fails(ctx):
    path = ctx.path("secret")
    with open(path, "w") as f:
        f.write("version 1\nsecret !!!\n")
    os.chmod(path, 0o600)
    rc, out, err = run_tool(ctx, ["--status", "--secret-file", path])
    assert rc == 1, f"exit {rc}"
    assert path in err and "--force" in err, err


@test
def new_recovery_codes(ctx):
    needs_root()
    path = ctx.path("secret")
    uri, old_codes, _ = enroll_pipe(ctx, path, ["--recovery-codes", "3"], expect_codes=3)
    old, _ = read_secret_file(path)
    rc, out, err = run_tool(ctx, ["--new-recovery-codes", "--recovery-codes", "4", "--secret-file", path])
    assert rc == 0, f"exit {rc}: {err}"
    assert "old ones no longer work" in out, out
    new_codes = recovery_codes(out)
    assert len(new_codes) == 4 and not set(new_codes) & set(old_codes)
    new = check_secret_file(path, 0, new_codes, uri)
    assert not set(new["recovery"]) & set(old["recovery"]), "a recovery hash survived"
    assert new["secret"] == old["secret"] and new["enrollment_id"] == old["enrollment_id"]
    assert new["confirmed"] == old["confirmed"], "new recovery codes changed the confirmation step"
    no_leftovers(ctx, written=True, lock=True)

    confdir = pam_service(ctx, path)
    login_refused(confdir, "root", old_codes[0], "an old recovery code")
    login_ok(confdir, "root", new_codes[2], "a new recovery code")
    login_refused(confdir, "root", new_codes[2], "a used recovery code")
    login_ok(confdir, "root", new_codes[0].lower().replace("-", " "), "a new recovery code typed loosely")

    # Without --recovery-codes: the default 10.
    rc, out, err = run_tool(ctx, ["--new-recovery-codes", "--secret-file", path])
    assert rc == 0, err
    assert len(recovery_codes(out)) == 10
    assert len(read_secret_file(path)[0]["recovery"]) == 10


@test
def new_recovery_codes_not_enrolled(ctx):
    path = ctx.path("secret")
    rc, out, err = run_tool(ctx, ["--new-recovery-codes", "--secret-file", path])
    assert rc == 1, f"exit {rc}"
    assert "not enrolled" in err, err
    no_leftovers(ctx)


@test
def remove_asks(ctx):
    path = ctx.path("secret")
    enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    with open(path, "rb") as f:
        before = f.read()
    for answer in (b"no\n", b"YES\n", b"", b"yes please\n"):
        rc, out, err = run_tool(ctx, ["--remove", "--secret-file", path], stdin=answer)
        assert rc == 1, f"answer {answer!r}: exit {rc}"
        assert "Type yes" in out, out
        with open(path, "rb") as f:
            assert f.read() == before, f"answer {answer!r} changed the file"
    rc, out, err = run_tool(ctx, ["--remove", "--secret-file", path], stdin=b"yes\n")
    assert rc == 0, f"exit {rc}: {err}"
    no_leftovers(ctx)
    rc, out, err = run_tool(ctx, ["--remove", "--secret-file", path], stdin=b"yes\n")
    assert rc == 1 and "not enrolled" in err, (rc, err)


@test
def remove_in_unsafe_directory_says_why(ctx):
    # The file is there, but its directory is group-writable: --remove must
    # say that (and how to fix it), not claim the user is not enrolled.
    d = ctx.path("open")
    os.mkdir(d)
    path = os.path.join(d, "secret")
    enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    os.chmod(d, 0o775)
    rc, out, err = run_tool(ctx, ["--remove", "--force", "--secret-file", path])
    assert rc == 1, f"exit {rc}"
    assert os.path.exists(path), "removed from an unsafe directory"
    assert "not enrolled" not in err, f"misleading message: {err!r}"
    assert "writable by group or others" in err, err


@test
def enrollment_appearing_meanwhile_is_not_overwritten(ctx):
    # A waits for its code; B enrolls the same file meanwhile; A's confirmed
    # code must not overwrite B's enrollment without --force.
    path = ctx.path("secret")
    a = PipeRun(ctx, base_args(path) + ["--recovery-codes", "0"])
    uri_a = a.expect(rb"URI: (\S+)\n").group(1).decode()
    a.expect(PROMPT)
    uri_b, _, _ = enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    with open(path, "rb") as f:
        before = f.read()
    a.send(code_for_uri(uri_a) + "\n")
    rc = a.finish()
    assert rc == 1, f"exit {rc}"
    assert "--force" in a.errtext and "appeared" in a.errtext, a.errtext
    with open(path, "rb") as f:
        assert f.read() == before, "B's enrollment was overwritten"
    check_secret_file(path, os.geteuid(), (), uri_b)
    no_leftovers(ctx, written=True, lock=True)


@test
def remove_force_does_not_ask(ctx):
    path = ctx.path("secret")
    enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    rc, out, err = run_tool(ctx, ["--remove", "--force", "--secret-file", path], stdin=b"")
    assert rc == 0, f"exit {rc}: {err}"
    assert "Type yes" not in out, out
    no_leftovers(ctx)


# --- tests: --import-google-authenticator -------------------------------------------


def ga_copy(ctx, sample, mode=0o400):
    src = os.path.join(DATA, "ga", sample)
    dst = ctx.path("ga-" + sample)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)
    with open(src) as f:
        return dst, f.read()


def ga_scratch(text):
    return [line for line in text.split("\n")[1:] if re.fullmatch(r"[0-9]{8}", line)]


@test
def import_ga_totp(ctx):
    path = ctx.path("secret")
    src, text = ga_copy(ctx, "totp_basic")
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", src, "--secret-file", path])
    assert rc == 0, f"exit {rc}: {err}"
    assert "5 scratch codes are now recovery codes" in out, out
    kv = check_secret_file(path, os.geteuid(), ga_scratch(text))
    assert b32decode(kv["secret"]) == b32decode(text.split("\n")[0])
    assert kv["algorithm"] == "sha1" and kv["digits"] == "6" and kv["period"] == "30"
    assert "window" not in kv
    assert "Note:" not in out
    no_leftovers(ctx, written=True, allowed={os.path.basename(src)})

    # Again without --force: refused, unchanged; with --force: done.
    with open(path, "rb") as f:
        before = f.read()
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", src, "--secret-file", path])
    assert rc == 1 and "--force" in err, (rc, err)
    with open(path, "rb") as f:
        assert f.read() == before
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", src, "--secret-file", path, "--force"])
    assert rc == 0, err


@test
def import_ga_options_and_login(ctx):
    needs_root()
    path = ctx.path("secret")
    src, text = ga_copy(ctx, "totp_options")
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", os.path.basename(src), "--secret-file", path])
    assert rc == 0, f"exit {rc}: {err}"
    assert "Note: RATE_LIMIT" in out, out
    assert "DISALLOW_REUSE" not in out, out
    scratch = ga_scratch(text)
    kv = check_secret_file(path, 0, scratch)
    assert b32decode(kv["secret"]) == b32decode(text.split("\n")[0])
    assert kv.get("window") == "8", kv.get("window")
    assert kv["period"] == "30"
    for s in scratch:
        assert s not in open(path).read()

    confdir = pam_service(ctx, path)
    login_ok(confdir, "root", scratch[1], "a scratch code")
    login_refused(confdir, "root", scratch[1], "the same scratch code again")
    # The app's entry keeps working: a code from the GA secret (an import
    # confirms no code, so the current one works).
    secret = text.split("\n")[0]
    code = oath_code(secret)
    login_ok(confdir, "root", code, "a code from the imported secret")

    # Importing the same file again (new salts for the same scratch codes)
    # revives neither the used scratch code nor the used TOTP code: the
    # replay record is the secret's (finding 4c of issue 12).
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", src, "--secret-file", path, "--force"])
    assert rc == 0, f"exit {rc}: {err}"
    again, _ = read_secret_file(path)
    assert not set(again["recovery"]) & set(kv["recovery"]), "the re-import kept the old hashes"
    login_refused(confdir, "root", scratch[1], "a used scratch code after a re-import")
    login_refused(confdir, "root", code, "a used code after a re-import")
    login_ok(confdir, "root", scratch[2], "an unused scratch code after a re-import")


@test
def import_ga_step_size(ctx):
    path = ctx.path("secret")
    src, text = ga_copy(ctx, "totp_step60")
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", src, "--secret-file", path])
    assert rc == 0, f"exit {rc}: {err}"
    kv = check_secret_file(path, os.geteuid(), ga_scratch(text))
    assert kv["period"] == "60", kv["period"]


def import_refused(ctx, sample, words, mode=0o400):
    path = ctx.path("secret")
    src, _ = ga_copy(ctx, sample, mode)
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", src, "--secret-file", path])
    assert rc == 1, f"{sample}: exit {rc}"
    for w in words:
        assert w in err, f"{sample}: {w!r} not in {err!r}"
    no_leftovers(ctx, allowed={os.path.basename(src)})


@test
def import_ga_hotp(ctx):
    # An HOTP google-authenticator file (" HOTP_COUNTER 1): a token of type
    # hotp whose next counter is 1, as google-authenticator would accept it;
    # the scratch codes become recovery codes.
    needs_root()
    path = ctx.path("secret")
    src, text = ga_copy(ctx, "hotp")
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", src, "--secret-file", path])
    assert rc == 0, f"exit {rc}: {err}"
    assert "counter-based, next counter 1" in out and "2 scratch codes are now recovery codes" in out, out
    check_mode(path, 0)
    f, tokens, _ = read_tokens_file(path)
    assert len(tokens) == 1, tokens
    t = tokens[0]
    assert t["name"] == "default" and t["type"] == "hotp" and t["counter"] == "1", t
    assert t["algorithm"] == "sha1" and t["digits"] == "6" and "period" not in t, t
    assert b32decode(t["secret"]) == b32decode(text.split("\n")[0])
    assert "window" not in f and len(f["recovery"]) == 2, f
    secret = text.split("\n")[0]
    confdir = pam_service(ctx, path, "deny=50")
    login_refused(confdir, "root", hotp_code(secret, 0), "the code of counter 0 (google-authenticator used it)")
    login_ok(confdir, "root", hotp_code(secret, 1), "the code of counter 1")
    login_refused(confdir, "root", hotp_code(secret, 1), "the code of counter 1 again")
    login_ok(confdir, "root", hotp_code(secret, 3), "the code of counter 3 (one skipped)")
    login_ok(confdir, "root", ga_scratch(text)[0], "a scratch code")


@test
def import_ga_bad_secret_refused(ctx):
    import_refused(ctx, "bad_secret", ["line 1", "secret"])


@test
def import_ga_7_digit_scratch_refused(ctx):
    import_refused(ctx, "scratch_7_digits", ["line 4"])


@test
def import_ga_unknown_option_refused(ctx):
    import_refused(ctx, "unknown_option", ["line 2", "unknown option"])


@test
def import_ga_no_totp_auth_refused(ctx):
    import_refused(ctx, "no_totp_auth", ["TOTP_AUTH"])


@test
def import_ga_readable_by_others_refused(ctx):
    import_refused(ctx, "totp_basic", ["cannot import"], mode=0o644)


@test
def import_ga_missing_file(ctx):
    path = ctx.path("secret")
    rc, out, err = run_tool(ctx, ["--import-google-authenticator", ctx.path("nothing"), "--secret-file", path])
    assert rc == 1, f"exit {rc}"
    assert ctx.path("nothing") in err, err
    no_leftovers(ctx, lock=False)


# --- tests: usage errors ----------------------------------------------------------


@test
def usage_errors_exit_2(ctx):
    path = ctx.path("secret")
    cases = [
        (["--bogus"], "unknown option --bogus"),
        (["--digits", "7"], "--digits must be 6 or 8"),
        (["--qr", "bogus"], "--qr must be"),
        (["--algorithm", "md5"], "--algorithm"),
        (["--period", "10"], "--period"),
        (["--period", "121"], "--period"),
        (["--recovery-codes", "101"], "--recovery-codes"),
        (["--json"], "--json goes with --status"),
        (["--new-recovery-codes", "--recovery-codes", "0"], "at least one code"),
        (["--status", "--remove"], "exclude each other"),
        (["--status", "--new-recovery-codes"], "exclude each other"),
        (["--remove", "--import-google-authenticator", "x"], "exclude each other"),
        (["--status", "--qr", "ascii"], "for enrolling only"),
        (["stray"], "unexpected argument 'stray'"),
        (["--status", "stray"], "unexpected argument"),
        (["--secret-file"], "needs a value"),
        (["--issuer", "a:b"], "':'"),
        (["--label", "x\ty"], "control characters"),
        (["--state-dir", "relative"], "absolute"),
        (["--user", "../etc"], "--user"),
    ]
    for args, words in cases:
        full = args if "--secret-file" in args else args + ["--secret-file", path]
        rc, out, err = run_tool(ctx, full, stdin=b"")
        assert rc == 2, f"{args}: exit {rc}, stderr {err!r}"
        assert words in err, f"{args}: {words!r} not in {err!r}"
        assert "Enter the code" not in out, f"{args}: asked for a code"
    no_leftovers(ctx, lock=False)
    rc, out, err = run_tool(ctx, ["--help"])
    assert rc == 0 and "Usage:" in out, (rc, err)


# --- tests: tokens (issue 17) -------------------------------------------------------


@test
def add_second_token_either_code_works_once(ctx):
    needs_root()
    path = ctx.path("secret")
    uri_a, _, _ = enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    a = uri_params(uri_a)["secret"]
    before = read_tokens_file(path)[0]
    uri_b, r = add_token(ctx, path, "backup-phone", ["--qr", "ascii"])
    assert decode_qr(ctx, qr_matrix(qr_block(r.out), "ascii")) == uri_b
    assert "Adding token backup-phone" in r.text and "Added token backup-phone" in r.text, r.text
    assert "%20%28backup-phone%29?" in uri_b, f"the default label does not name the token: {uri_b}"
    assert not recovery_codes(r.text), "--add printed recovery codes"
    b = uri_params(uri_b)["secret"]
    assert b32decode(a) != b32decode(b)
    check_mode(path, 0)
    keys, tokens, _ = read_tokens_file(path)
    assert [t["name"] for t in tokens] == ["default", "backup-phone"], tokens
    assert keys["enrollment_id"] == before["enrollment_id"] and keys["enrolled"] == before["enrolled"], keys
    assert b32decode(tokens[0]["secret"]) == b32decode(a) and b32decode(tokens[1]["secret"]) == b32decode(b)
    assert int(tokens[1]["confirmed"]) % 30 == 0 and int(tokens[1]["confirmed"]) > time.time() - 60, tokens[1]
    no_leftovers(ctx, written=True, lock=True)

    confdir = pam_service(ctx, path, "deny=50")
    code_a, code_b = later_code(a, 90), later_code(b, 150)
    login_ok(confdir, "root", code_a, "a code of the first token", 90)
    login_refused(confdir, "root", code_a, "the same code of the first token again", 90)
    login_ok(confdir, "root", code_b, "a code of the added token", 150)
    login_refused(confdir, "root", code_b, "the same code of the added token again", 150)
    login_ok(confdir, "root", later_code(a, 210), "a later code of the first token", 210)

    # A name the enrollment has already, or a secret it has already:
    # refused before any code is asked for, the file unchanged.
    with open(path, "rb") as f:
        written = f.read()
    rc, out, err = run_tool(ctx, ["--add", "--name", "backup-phone", "--secret-file", path], stdin=b"")
    assert rc == 1 and "already a token named backup-phone" in err and "Enter the code" not in out, (rc, out, err)
    key = write_private(ctx, "same-key", b + "\n")
    rc, out, err = run_tool(ctx, ["--add", "--name", "again", "--secret-file", path, "--secret-from", key], stdin=b"")
    assert rc == 1 and "in " + path + " already, as token backup-phone" in err, (rc, err)
    assert b not in out + err, "the secret was shown"
    # Three wrong codes: nothing written.
    r = PipeRun(ctx, ["--add", "--name", "third", "--secret-file", path, "--issuer", "CliTest"])
    uri_c = r.expect(rb"URI: (\S+)\n").group(1).decode()
    bad = wrong_code(uri_c)
    for _ in range(3):
        r.expect(PROMPT)
        r.send(bad + "\n")
    assert r.finish() == 1 and "3 wrong codes" in r.errtext, r.errtext
    with open(path, "rb") as f:
        assert f.read() == written, "a refused --add changed the file"


@test
def add_needs_an_enrollment(ctx):
    path = ctx.path("secret")
    rc, out, err = run_tool(ctx, ["--add", "--name", "phone", "--secret-file", path], stdin=b"")
    assert rc == 1, f"exit {rc}"
    assert "not enrolled" in err and "run totp-enroll first" in err, err
    assert "Enter the code" not in out
    no_leftovers(ctx, lock=False)


@test
def list_text_and_json(ctx):
    path = ctx.path("secret")
    rc, out, err = run_tool(ctx, ["--list", "--json", "--secret-file", path])
    assert rc == 0 and json.loads(out) == {"user": pwd.getpwuid(os.geteuid()).pw_name, "secret_file": path,
                                           "enrolled": False, "tokens": []}, (rc, out, err)
    uri, _, _ = enroll_pipe(ctx, path, ["--recovery-codes", "1", "--period", "60", "--digits", "8"], expect_codes=1)
    add_token(ctx, path, "yubikey", ["--type", "hotp", "--secret-from", write_private(ctx, "k", RFC4226_KEY_HEX)],
              code_for=RFC4226_CODES[2])
    rc, out, err = run_tool(ctx, ["--list", "--secret-file", path])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Tokens of {pwd.getpwuid(os.geteuid()).pw_name} ({path}):", out
    assert re.fullmatch(r"NAME +TYPE +ALGORITHM +DIGITS +PERIOD/COUNTER +ADDED", lines[1]), out
    assert re.fullmatch(r"default +totp +sha1 +8 +60 s +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[2]), out
    assert re.fullmatch(r"yubikey +hotp +sha1 +6 +counter 3 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[3]), out
    assert len(lines) == 4, out
    rc, out, err = run_tool(ctx, ["--list", "--json", "--secret-file", path])
    assert rc == 0, err
    listing = json.loads(out)
    assert out.count("\n") == 1, "--list --json is not one line"
    assert list(listing) == ["user", "secret_file", "enrolled", "tokens"] and listing["enrolled"] is True, listing
    fields = ["name", "type", "algorithm", "digits", "period", "offset", "counter", "added_at", "added_unix"]
    assert all(list(t) == fields for t in listing["tokens"]), listing
    d, y = listing["tokens"]
    assert (d["name"], d["type"], d["algorithm"], d["digits"], d["period"], d["offset"], d["counter"]) == \
        ("default", "totp", "sha1", 8, 60, 0, None), d
    assert (y["name"], y["type"], y["algorithm"], y["digits"], y["period"], y["offset"], y["counter"]) == \
        ("yubikey", "hotp", "sha1", 6, None, None, 3), y
    assert abs(y["added_unix"] - time.time()) < 300 and y["added_at"].endswith("Z"), y
    keys, tokens, text = read_tokens_file(path)
    for t in tokens:
        assert t["secret"] not in out and t["secret"].lower() not in out.lower(), "--list shows a secret"
    assert RFC4226_KEY_HEX not in out
    st = json.loads(run_tool(ctx, ["--status", "--json", "--secret-file", path])[1])
    assert st["tokens"] == 2 and st["period"] == 60 and st["digits"] == 8, st
    rc, out, err = run_tool(ctx, ["--status", "--secret-file", path])
    assert "Tokens:          2: default, yubikey" in out, out


@test
def remove_one_token(ctx):
    needs_root()
    path = ctx.path("secret")
    uri, _, _ = enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    a = uri_params(uri)["secret"]
    b = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    add_token(ctx, path, "phone2", ["--secret-from", write_private(ctx, "b", b + "\n")], code_for=oath_code(b))
    confdir = pam_service(ctx, path, "deny=50")
    login_ok(confdir, "root", later_code(b, 90), "a code of phone2", 90)
    with open(path, "rb") as f:
        before = f.read()
    for answer in (b"no\n", b""):
        rc, out, err = run_tool(ctx, ["--remove", "--name", "phone2", "--secret-file", path], stdin=answer)
        assert rc == 1 and "Type yes" in out and "(default) keep working" in out, (rc, out, err)
        with open(path, "rb") as f:
            assert f.read() == before, f"answer {answer!r} changed the file"
    rc, out, err = run_tool(ctx, ["--remove", "--name", "nosuch", "--secret-file", path], stdin=b"yes\n")
    assert rc == 1 and "no token named nosuch" in err and "default, phone2" in err, (rc, err)
    rc, out, err = run_tool(ctx, ["--remove", "--name", "phone2", "--secret-file", path], stdin=b"yes\n")
    assert rc == 0, f"exit {rc}: {err}"
    assert "Removed token phone2" in out and "Tokens left: default" in out, out
    # One TOTP token named default again, its clock unset: format 1.
    kv = check_secret_file(path, 0, (), uri)
    assert b32decode(kv["secret"]) == b32decode(a)
    login_refused(confdir, "root", later_code(b, 150), "a code of the removed token", 150)
    login_ok(confdir, "root", later_code(a, 150), "a code of the token left", 150)
    # The last token: not with --name.
    rc, out, err = run_tool(ctx, ["--remove", "--name", "default", "--force", "--secret-file", path])
    assert rc == 1 and "only token" in err and "--remove without --name" in err, (rc, err)
    assert os.path.exists(path)


@test
def remove_first_token_keeps_used_recovery_codes_used(ctx):
    # The recovery codes' replay record hangs on the first token's key; when
    # that token goes, the key stays as the file's recovery anchor, so a
    # used recovery code stays used (secret_file.h, recovery_key).
    needs_root()
    path = ctx.path("secret")
    state = ctx.path("state")
    uri, codes, _ = enroll_pipe(ctx, path, ["--recovery-codes", "3"], expect_codes=3)
    a = uri_params(uri)["secret"]
    b = RFC4226_KEY_B32
    add_token(ctx, path, "yubikey", ["--type", "hotp", "--secret-from", write_private(ctx, "b", b)],
              code_for=RFC4226_CODES[0])
    confdir = pam_service(ctx, path, "deny=50")
    login_ok(confdir, "root", codes[0], "a recovery code")
    rc, out, err = run_tool(ctx, ["--remove", "--name", "default", "--force", "--secret-file", path])
    assert rc == 0, f"exit {rc}: {err}"
    keys, tokens, _ = read_tokens_file(path)
    assert [t["name"] for t in tokens] == ["yubikey"], tokens
    assert b32decode(keys["recovery_anchor"]) == b32decode(a), "the removed first token's key is not the anchor"
    assert len(keys["recovery"]) == 3
    login_refused(confdir, "root", codes[0], "a used recovery code after its token was removed")
    login_refused(confdir, "root", later_code(a, 90), "a code of the removed token", 90)
    login_ok(confdir, "root", codes[1], "an unused recovery code")
    login_ok(confdir, "root", RFC4226_CODES[1], "a code of the token left")
    st = json.loads(run_tool(ctx, ["--status", "--json", "--secret-file", path, "--state-dir", state])[1])
    assert st["recovery_codes"] == 3 and st["recovery_codes_unused"] == 1, st
    # New recovery codes, and the anchor still keeps the old record.
    rc, out, err = run_tool(ctx, ["--new-recovery-codes", "--recovery-codes", "2", "--secret-file", path])
    assert rc == 0, err
    assert b32decode(read_tokens_file(path)[0]["recovery_anchor"]) == b32decode(a)


@test
def hotp_token_from_secret_file_logs_in(ctx):
    # RFC 4226 Appendix D through totp-enroll --secret-from and the module:
    # in order, a skipped code inside the look-ahead, one behind refused, one
    # beyond the look-ahead refused, replays refused.
    needs_root()
    path = ctx.path("secret")
    loose = write_private(ctx, "loose", RFC4226_KEY_B32 + "\n", 0o644)
    rc, out, err = run_tool(ctx, ["--type", "hotp", "--secret-from", loose, "--secret-file", path], stdin=b"")
    assert rc == 1 and "chmod 600" in err and "Enter" not in out, (rc, out, err)
    assert RFC4226_KEY_B32 not in out + err
    os.unlink(loose)
    r = enroll_from_secret(ctx, path, "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ\n", RFC4226_CODES[0],
                           ["--type", "hotp", "--name", "yubikey", "--recovery-codes", "0"])
    assert "Press the token's button and enter the code: " in r.text, r.text
    assert "URI:" not in r.text and "QR" not in r.text, "a secret from --secret-from was shown"
    for shown in (RFC4226_KEY_B32, RFC4226_KEY_HEX, "GEZD GNBV"):
        assert shown not in r.text + r.errtext, "the secret was echoed"
    check_mode(path, 0)
    keys, tokens, _ = read_tokens_file(path)
    assert len(tokens) == 1 and tokens[0]["name"] == "yubikey" and tokens[0]["type"] == "hotp", tokens
    assert tokens[0]["counter"] == "1" and tokens[0]["digits"] == "6" and tokens[0]["algorithm"] == "sha1", tokens
    assert b32decode(tokens[0]["secret"]) == b"12345678901234567890"
    confdir = pam_service(ctx, path, "deny=50")
    login_refused(confdir, "root", RFC4226_CODES[0], "the code that confirmed the enrollment")
    login_ok(confdir, "root", RFC4226_CODES[1], "counter 1")
    login_refused(confdir, "root", RFC4226_CODES[1], "counter 1 again")
    login_ok(confdir, "root", RFC4226_CODES[3], "counter 3 (2 skipped)")
    login_refused(confdir, "root", RFC4226_CODES[2], "counter 2, behind the last one accepted")
    login_ok(confdir, "root", RFC4226_CODES[4], "counter 4")
    login_refused(confdir, "root", hotp_code(RFC4226_KEY_B32, 5 + 11), "counter 16, beyond the look-ahead of 10")
    login_ok(confdir, "root", RFC4226_CODES[9], "counter 9, within the look-ahead")


@test
def hotp_token_with_new_secret_shows_counter_in_uri(ctx):
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path) + ["--type", "hotp", "--counter", "5", "--digits", "8", "--qr", "ascii",
                                        "--recovery-codes", "0"])
    uri = r.expect(rb"URI: (\S+)\n").group(1).decode()
    assert uri.startswith("otpauth://hotp/CliTest:alice%40example?secret="), uri
    p = uri_params(uri)
    assert p["counter"] == "5" and p["digits"] == "8" and "period" not in p and "algorithm" not in p, uri
    assert decode_qr(ctx, qr_matrix(qr_block(r.out), "ascii")) == uri
    assert "(HOTP, SHA1, 8 digits, counter 5)" in r.text, r.text
    r.expect(PROMPT)
    r.send(hotp_code(p["secret"], 7, 8) + "\n")  # two presses ahead: within the look-ahead
    assert r.finish() == 0, r.errtext
    t = read_tokens_file(path)[1][0]
    assert t["type"] == "hotp" and t["counter"] == "8" and t["digits"] == "8", t
    assert b32decode(t["secret"]) == b32decode(p["secret"])


@test
def secret_from_stdin_on_a_terminal_is_not_echoed(ctx):
    path = ctx.path("secret")
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    child = spawn_pty(ctx, ["--secret-from", "-", "--secret-file", path, "--recovery-codes", "0"])
    child.expect(rb"secret \(base32 or hex; it is not shown\): ")
    child.sendline(secret.lower())
    child.expect(rb"Enter the code the token shows: ")
    seen = child.before + child.after
    child.sendline(oath_code(secret))
    child.expect(pexpect.EOF)
    seen += child.before
    child.close()
    assert child.exitstatus == 0, f"exit {child.exitstatus}: {seen!r}"
    assert secret.encode() not in seen.upper(), "the secret was echoed"
    t = read_tokens_file(path)[1][0]
    assert b32decode(t["secret"]) == b32decode(secret) and t["name"] == "default", t
    # Through a pipe, in hex: the same.
    path2 = ctx.path("secret2")
    r = PipeRun(ctx, ["--secret-from", "-", "--secret-file", path2, "--recovery-codes", "0"])
    r.expect(rb"not shown\): ")
    r.send("hex:" + b32decode(secret).hex() + "\n")
    r.expect(ANY_CODE_PROMPT)
    r.send(oath_code(secret) + "\n")
    assert r.finish() == 0, r.errtext
    assert b32decode(read_tokens_file(path2)[1][0]["secret"]) == b32decode(secret)


@test
def resync_totp_clock_90_seconds_fast(ctx):
    needs_root()
    path = ctx.path("secret")
    uri, _, _ = enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    secret = uri_params(uri)["secret"]
    fast = 90  # the token's clock is this far ahead
    confdir = pam_service(ctx, path, "deny=50")
    login_refused(confdir, "root", later_code(secret, 120 + fast), "a code from a clock 90 s fast", 120)
    fresh_step()
    now = time.time()
    first, second = code_at(secret, now + fast - 30), code_at(secret, now + fast)
    r = PipeRun(ctx, ["--resync", "--secret-file", path])
    r.expect(rb"shows now: ")
    r.send(first + "\n")
    r.expect(rb"enter it: ")
    r.send(second + "\n")
    rc = r.finish()
    assert rc == 0, f"exit {rc}: {r.errtext}"
    assert "Token default: clock offset now +90 s (was 0 s)" in r.text, r.text
    t = read_tokens_file(path)[1][0]
    assert t["offset"] == "90", t
    check_mode(path, 0)
    # Both codes typed are used; later codes of the fast clock log in, and
    # keep logging in.
    login_refused(confdir, "root", second, "the second resync code")
    for later in (300, 900, 3600, 86400):
        login_ok(confdir, "root", later_code(secret, later + fast), f"a code from the fast clock {later} s on", later)
    # --list shows the offset.
    rc, out, err = run_tool(ctx, ["--list", "--secret-file", path])
    assert "30 s, clock +90 s" in out, out


@test
def resync_hotp_after_pressing_beyond_the_look_ahead(ctx):
    needs_root()
    path = ctx.path("secret")
    enroll_from_secret(ctx, path, RFC4226_KEY_HEX, RFC4226_CODES[0], ["--type", "hotp", "--recovery-codes", "0"])
    confdir = pam_service(ctx, path, "deny=50")
    login_ok(confdir, "root", RFC4226_CODES[1], "counter 1")
    # Pressed 18 times away from the computer: counter 20 is beyond 2 + 10.
    login_refused(confdir, "root", hotp_code(RFC4226_KEY_B32, 20), "counter 20, beyond the look-ahead")
    r = PipeRun(ctx, ["--resync", "--secret-file", path])
    r.expect(rb"enter the code: ")
    r.send(hotp_code(RFC4226_KEY_B32, 21) + "\n")
    r.expect(rb"next code: ")
    r.send(hotp_code(RFC4226_KEY_B32, 22) + "\n")
    rc = r.finish()
    assert rc == 0, f"exit {rc}: {r.errtext}"
    assert "Token default: counter now 23 (was 1)" in r.text, r.text
    assert read_tokens_file(path)[1][0]["counter"] == "23"
    login_refused(confdir, "root", hotp_code(RFC4226_KEY_B32, 22), "a resync code")
    login_ok(confdir, "root", hotp_code(RFC4226_KEY_B32, 23), "counter 23")
    login_ok(confdir, "root", hotp_code(RFC4226_KEY_B32, 30), "counter 30, within the look-ahead")


@test
def resync_refusals_change_nothing(ctx):
    path = ctx.path("secret")
    rc, out, err = run_tool(ctx, ["--resync", "--secret-file", path], stdin=b"")
    assert rc == 1 and "not enrolled" in err, (rc, err)
    uri, _, _ = enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    secret = uri_params(uri)["secret"]
    with open(path, "rb") as f:
        before = f.read()
    fresh_step()
    now = time.time()
    cases = [
        # The two codes the wrong way round: not consecutive.
        (code_at(secret, now + 60) + "\n" + code_at(secret, now + 30) + "\n", "not consecutive codes"),
        (wrong_code(uri) + "\n" + wrong_code(uri) + "\n", "not consecutive codes"),
        ("12345\n123456\n", "6 digits"),
        (code_at(secret, now) + "\n", "no code entered"),
    ]
    for answer, words in cases:
        rc, out, err = run_tool(ctx, ["--resync", "--secret-file", path], stdin=answer)
        assert rc == 1, f"{answer!r}: exit {rc}"
        assert words in err and "nothing was changed" in err, f"{answer!r}: {err!r}"
        with open(path, "rb") as f:
            assert f.read() == before, f"{answer!r} changed the file"
    # HOTP: two codes that do not follow each other.
    add_token(ctx, path, "yubikey", ["--type", "hotp", "--secret-from", write_private(ctx, "k", RFC4226_KEY_B32)],
              code_for=RFC4226_CODES[0])
    with open(path, "rb") as f:
        before = f.read()
    rc, out, err = run_tool(ctx, ["--resync", "--secret-file", path], stdin=b"")
    assert rc == 1 and "2 tokens" in err and "--name" in err, (rc, err)
    rc, out, err = run_tool(ctx, ["--resync", "--name", "yubikey", "--secret-file", path],
                            stdin=RFC4226_CODES[5] + "\n" + RFC4226_CODES[4] + "\n")
    assert rc == 1 and "not consecutive codes of token yubikey" in err, (rc, err)
    rc, out, err = run_tool(ctx, ["--resync", "--name", "nosuch", "--secret-file", path], stdin=b"")
    assert rc == 1 and "no token named nosuch" in err, (rc, err)
    with open(path, "rb") as f:
        assert f.read() == before


def usersfile(ctx, lines, name="users.oath", mode=0o600):
    return write_private(ctx, name, "".join(line + "\n" for line in lines), mode)


@test
def import_pam_oath_hotp_and_totp(ctx):
    needs_root()
    path = ctx.path("secret")
    totp_key = "00112233445566778899aabbccddeeff00112233"
    totp_b32 = base64.b32encode(bytes.fromhex(totp_key)).decode()
    other_key = "ffeeddccbbaa99887766554433221100ffeeddcc"
    fresh_step()
    last_totp = oath_code(totp_b32)
    src = usersfile(ctx, [
        "# users of pam_oath",
        f"HOTP/T30/6\tbob\t-\t{other_key}",
        f"HOTP root - {RFC4226_KEY_HEX} 5 {RFC4226_CODES[5]} 2026-11-28T10:00:00L",
        f"HOTP/T30 root - {totp_key} 0 {last_totp} 2026-11-28T10:00:00L",
        "HOTP/E/7 carol secret-pin 00",  # another user's line pam_totp could not take: not looked at
        "",
    ])
    rc, out, err = run_tool(ctx, ["--import-pam-oath", src, "--secret-file", path])
    assert rc == 0, f"exit {rc}: {err}"
    assert "Imported 2 tokens of root from " + src in out, out
    assert "oath-1: counter-based, 6 digits, next counter 6 (line 3)" in out, out
    assert "oath-2: time-based, 6 digits, 30-second period (line 4)" in out, out
    assert "--new-recovery-codes" in out, out
    check_mode(path, 0)
    keys, tokens, text = read_tokens_file(path)
    assert [(t["name"], t["type"]) for t in tokens] == [("oath-1", "hotp"), ("oath-2", "totp")], tokens
    assert tokens[0]["counter"] == "6" and b32decode(tokens[0]["secret"]) == bytes.fromhex(RFC4226_KEY_HEX)
    assert tokens[1]["period"] == "30" and b32decode(tokens[1]["secret"]) == bytes.fromhex(totp_key)
    assert keys["recovery"] == [], keys
    assert base64.b32encode(bytes.fromhex(other_key)).decode().rstrip("=") not in text, "bob's secret was imported"
    confdir = pam_service(ctx, path, "deny=50")
    login_refused(confdir, "root", RFC4226_CODES[5], "the HOTP code pam_oath accepted last")
    login_ok(confdir, "root", RFC4226_CODES[6], "the next HOTP code")
    login_refused(confdir, "root", last_totp, "the TOTP code pam_oath accepted last")
    login_ok(confdir, "root", later_code(totp_b32, 90), "a later TOTP code", 90)
    # Again: not without --force; --name for two lines is refused.
    rc, out, err = run_tool(ctx, ["--import-pam-oath", src, "--secret-file", path])
    assert rc == 1 and "--force" in err, (rc, err)
    rc, out, err = run_tool(ctx, ["--import-pam-oath", src, "--secret-file", path, "--force", "--name", "x"])
    assert rc == 1 and "2 lines for root" in err and "drop --name" in err, (rc, err)
    # One line and --name: that name; --force replaces.
    one = usersfile(ctx, [f"HOTP/E/8 root + {RFC4226_KEY_HEX}"], "one.oath")
    rc, out, err = run_tool(ctx, ["--import-pam-oath", one, "--secret-file", path, "--force", "--name", "yubikey"])
    assert rc == 0, err
    assert "Note: line 1 has the PIN +" in out, out
    t = read_tokens_file(path)[1]
    assert [(x["name"], x["type"], x["digits"], x["counter"]) for x in t] == [("yubikey", "hotp", "8", "0")], t


@test
def import_pam_oath_for_another_user(ctx):
    # Root imports the lines of --user from root's usersfile into a central
    # secret file owned by that user; the caller's own lines stay out.
    pw = make_user(ctx)
    central = ctx.path("central")
    os.mkdir(central, 0o755)
    src = usersfile(ctx, [
        f"HOTP root - {RFC4226_KEY_HEX} 1",
        f"HOTP/T60/8 {pw.pw_name} - 00112233445566778899aabbccddeeff00112233",
    ])
    rc, out, err = run_tool(ctx, ["--import-pam-oath", src, "--user", pw.pw_name, "--secret-file", central + "/%u"])
    assert rc == 0, f"exit {rc}: {err}"
    assert f"Imported 1 token of {pw.pw_name}" in out and "oath-1: time-based, 8 digits, 60-second period" in out, out
    path = os.path.join(central, pw.pw_name)
    check_mode(path, pw.pw_uid)
    tokens = read_tokens_file(path)[1]
    assert [(t["name"], t["type"], t["digits"], t["period"]) for t in tokens] == [("oath-1", "totp", "8", "60")], tokens
    assert b32decode(tokens[0]["secret"]) == bytes.fromhex("00112233445566778899aabbccddeeff00112233")


@test
def import_pam_oath_refusals(ctx):
    needs_root()
    path = ctx.path("secret")
    key = RFC4226_KEY_HEX
    cases = [
        ([f"HOTP root secret-pin {key}"], ["line 1", "PIN", "pam_unix"]),
        ([f"HOTP bob - {key}", f"HOTP/E/7 root - {key}"], ["line 2", "7-digit"]),
        ([f"HOTP root - {key[:-1]}"], ["line 1", "secret (field 4)", "hex"]),
        ([f"HOTP root - 3132333435"], ["line 1", "40 bits", "80"]),
        ([f"HOTP root - {key} five"], ["line 1", "counter (field 5)"]),
        ([f"HOTP root - {key} 5 12345"], ["line 1", "last code (field 6)"]),
        ([f"HOTP root - {key} 5 123456 yesterday"], ["line 1", "time (field 7)"]),
        ([f"TOTP root - {key}"], ["line 1", "not a token type"]),
        ([f"HOTP root - {key}", f"HOTP/T30 root - {key}"], ["line 2", "same secret as line 1"]),
        ([f"HOTP root"], ["line 1", "no PIN field"]),
        ([f"HOTP bob - {key}"], ["no line for user root", "1 line for other users"]),
    ]
    for lines, words in cases:
        src = usersfile(ctx, lines)
        rc, out, err = run_tool(ctx, ["--import-pam-oath", src, "--secret-file", path])
        assert rc == 1, f"{lines}: exit {rc}: {err}"
        for w in words:
            assert w in err, f"{lines}: {w!r} not in {err!r}"
        assert "secret-pin" not in err and key not in err, f"{lines}: a PIN or secret in {err!r}"
        assert not os.path.exists(path), f"{lines}: written"
    src = usersfile(ctx, [f"HOTP root - {key}"], "open.oath", 0o644)
    rc, out, err = run_tool(ctx, ["--import-pam-oath", src, "--secret-file", path])
    assert rc == 1 and "chmod 600" in err, (rc, err)
    rc, out, err = run_tool(ctx, ["--import-pam-oath", ctx.path("missing"), "--secret-file", path])
    assert rc == 1 and ctx.path("missing") in err, (rc, err)
    assert not os.path.exists(path)


@test
def token_usage_errors_exit_2(ctx):
    path = ctx.path("secret")
    cases = [
        (["--type", "motp"], "--type must be totp"),
        (["--counter", "5"], "--counter goes with --type hotp"),
        (["--type", "totp", "--counter", "5"], "--counter goes with --type hotp"),
        (["--type", "hotp", "--counter", "-1"], "--counter must be"),
        (["--type", "hotp", "--counter", "1000000000000000000"], "--counter must be"),
        (["--name", "my phone"], "--name: a token name holds only"),
        (["--name", "-phone"], "--name: a token name starts with a letter or digit"),
        (["--name", "x" * 33], "--name: a token name is 1 to 32"),
        (["--add"], "--add needs --name"),
        (["--add", "--list", "--name", "a"], "exclude each other"),
        (["--type", "hotp", "--period", "60"], "--period is for time-based tokens"),
        (["--type", "hotp", "--algorithm", "sha256"], "--type hotp uses sha1"),
        (["--list", "--name", "a"], "--name goes with"),
        (["--list", "--type", "hotp"], "--type, --counter and --secret-from are for enrolling"),
        (["--resync", "--secret-from", "-"], "--type, --counter and --secret-from are for enrolling"),
        (["--add", "--name", "a", "--json"], "--json goes with --status or --list"),
        (["--add", "--name", "a", "--recovery-codes", "3"], "--recovery-codes goes with"),
        (["--secret-from", ""], "--secret-from needs a file name"),
    ]
    for args, words in cases:
        rc, out, err = run_tool(ctx, args + ["--secret-file", path], stdin=b"")
        assert rc == 2, f"{args}: exit {rc}, stderr {err!r}"
        assert words in err, f"{args}: {words!r} not in {err!r}"
        assert "Enter the code" not in out, f"{args}: asked for a code"
    no_leftovers(ctx, lock=False)


@test
def secret_from_refusals(ctx):
    path = ctx.path("secret")
    cases = [
        ("JBSWY3DP\n", "40 bits long"),
        ("not a secret!\n", "neither base32"),
        ("JBSWY3DPEHPK3PXP\nJBSWY3DPEHPK3PXP\n", "several lines"),
        ("ABCDEF2345ABCDEF2345ABCDEF234567\n", "both hex and base32"),
        ("hex:JBSWY3DPEHPK3PXP\n", "is not hex"),
        ("", "is empty"),
    ]
    for text, words in cases:
        src = write_private(ctx, "key", text)
        rc, out, err = run_tool(ctx, ["--secret-from", src, "--secret-file", path], stdin=b"")
        assert rc == 1, f"{text!r}: exit {rc}: {err}"
        assert words in err and src in err, f"{text!r}: {words!r} not in {err!r}"
        assert "Enter the code" not in out
        shown = text.split()[0].split(":")[-1] if text.strip() else ""
        assert len(shown) < 8 or shown not in err, f"{text!r}: the secret is in the message"
    rc, out, err = run_tool(ctx, ["--secret-from", ctx.path("nothing"), "--secret-file", path], stdin=b"")
    assert rc == 1 and ctx.path("nothing") in err, (rc, err)
    assert not os.path.exists(path)


# --- the join test: the CLI's enrollment works for a real login --------------------


@test
def join_enroll_then_login(ctx):
    needs_root()
    path = ctx.path("secret")
    r = PipeRun(ctx, base_args(path) + ["--recovery-codes", "2"])
    m = r.expect(rb"Or type this secret by hand: ([A-Z2-7 ]+)\n")
    secret = m.group(1).decode().replace(" ", "")
    r.expect(PROMPT)
    code = oath_code(secret)
    r.send(code + "\n")
    rc = r.finish()
    assert rc == 0, f"exit {rc}: {r.errtext}"
    confdir = pam_service(ctx, path)
    later = 3 * 30
    fresh = later_code(secret, later)
    login_ok(confdir, "root", fresh, "a code after the enrollment", later)
    login_refused(confdir, "root", fresh, "the same code again (replay)", later)
    st = os.stat(ctx.path("state"))
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0
    # The state (pam_totp(8), FILES): root's account file and the claim of
    # the secret's token, nothing else; the code's step is used.
    tid = state_files.token_id(b32decode(secret))
    assert sorted(os.listdir(ctx.path("state"))) == sorted(["u-root", "t-" + tid]), os.listdir(ctx.path("state"))
    assert state_files.claims(ctx.path("state")) == {tid: "u-root"}
    account = state_of(ctx, "root")
    assert account["charge"] is None and account["last_login"] is not None, account
    record = token_of(ctx, secret)
    step_end = (int(time.time()) + later) // 30 * 30 + 30
    assert step_end - 30 <= record["used_until"] <= step_end + 30, (record, step_end)
    assert record["pending_until"] is None and record["pending_recovery"] is None, record


@test
def enrollment_code_does_not_log_in(ctx):
    # Finding 7 of issue 12: the code typed to confirm the enrollment was
    # seen on the enrolling screen; it (and every code of an earlier step)
    # must not log in afterwards, even with no state at all yet. The code of
    # the next step does.
    needs_root()
    path = ctx.path("secret")
    uri, _, r = enroll_pipe(ctx, path, ["--recovery-codes", "0"], expect_codes=0)
    secret = uri_params(uri)["secret"]
    kv = check_secret_file(path, 0, (), uri)
    confirmed = int(kv["confirmed"])  # the end of the confirmed step
    typed = code_at(secret, confirmed - 30)
    assert typed == code_for_uri(uri) or int(time.time()) >= confirmed, "the confirmed step is not the typed code's"
    confdir = pam_service(ctx, path)
    assert not os.path.exists(ctx.path("state"))
    out = login_refused(confdir, "root", typed, "the enrollment's confirmation code")
    assert "already used" in out, out
    login_refused(confdir, "root", code_at(secret, confirmed - 60), "the code of the step before it")
    account = state_of(ctx, "root")
    assert account["since_success"] == 2 and account["last_login"] is None, account
    # The first code after it: the moment is moved into the next step with
    # the simulated clock rather than waited for.
    later = confirmed + 1 - int(time.time())
    login_ok(confdir, "root", code_at(secret, confirmed + 1), "the code of the next step", later)


@test
def import_by_root_reads_the_source_as_the_user(ctx):
    # Finding 8 of issue 12: root importing a google-authenticator file for
    # a user reads it with the user's identity, so a path only root can
    # follow (here: the user's symlink into a root-only directory, holding a
    # file the user owns) is refused, and nothing reaches the destination.
    pw = make_user(ctx)
    hidden = ctx.path("rootonly")
    os.mkdir(hidden, 0o700)
    src = os.path.join(hidden, "google_authenticator")
    shutil.copyfile(os.path.join(DATA, "ga", "totp_basic"), src)
    os.chown(src, pw.pw_uid, pw.pw_gid)
    os.chmod(src, 0o400)
    os.symlink(hidden, os.path.join(pw.pw_dir, "ga"))
    central = ctx.path("central")
    os.mkdir(central, 0o755)
    dest = ["--user", pw.pw_name, "--secret-file", central + "/%u"]
    rc, out, err = run_tool(ctx, dest + ["--import-google-authenticator", os.path.join(pw.pw_dir, "ga",
                                                                                       "google_authenticator")])
    assert rc == 1 and "Permission denied" in err, f"a source only root can read was imported: exit {rc}: {err}"
    assert os.listdir(central) == [], os.listdir(central)
    # The same file where the user can read it: imported, the user's.
    reachable = os.path.join(pw.pw_dir, ".google_authenticator")
    shutil.copyfile(src, reachable)
    os.chown(reachable, pw.pw_uid, pw.pw_gid)
    os.chmod(reachable, 0o400)
    rc, out, err = run_tool(ctx, dest + ["--import-google-authenticator", reachable])
    assert rc == 0, f"exit {rc}: {err}"
    with open(src) as f:
        text = f.read()
    kv = check_secret_file(os.path.join(central, pw.pw_name), pw.pw_uid, ga_scratch(text))
    assert b32decode(kv["secret"]) == b32decode(text.split("\n")[0])


def main():
    args = sys.argv[1:]
    for tool in ("oathtool", "zbarimg"):
        if shutil.which(tool) is None:
            sys.stderr.write(f"run.py: {tool} is missing (apt-get install oathtool zbar-tools)\n")
            print("0 passed, 1 failed")
            return 1
    return run_tests(args)


if __name__ == "__main__":
    sys.exit(main())
