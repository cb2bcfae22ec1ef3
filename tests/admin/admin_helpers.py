"""What tests/admin/run.py needs besides the world of tests/lib: codes
(RFC 6238 and RFC 4226 over HMAC-SHA1), totp-enroll on pipes, and readers
of totp-admin's output: its tables (columns found by the header's
positions, so a row that is not aligned reads wrong) and its JSON, checked
against the fields totp-admin(8) documents (JSON OUTPUT). Standard library
only.
"""

import base64
import json
import re
import subprocess
import time

from fleet_world import Codes, hotp, totp  # noqa: F401  (run.py uses hotp and totp through this module)

URI_RE = re.compile(r"^URI: (otpauth://\S+)$")
RECOVERY_RE = re.compile(r"\b([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})\b")


# --- codes ---------------------------------------------------------------------

class Enrollment(Codes):
    """An account enrolled by totp-enroll: its first token's key (read
    back from the printed URI) and the recovery codes it printed."""

    def __init__(self, user, key, recovery, central):
        self.user = user
        self.key = key
        self.recovery = recovery
        self.central = central
        self.hotp_key = None


class EnrollRun:
    """totp-enroll on pipes: reads up to the URI it prints, then answers
    with CODE_OF(key) (the code the app would show)."""

    def __init__(self, popen, argv, env, code_of):
        self.proc = popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          text=True, bufsize=1)
        self.key = None
        self.stdout = ""
        self.stderr = ""
        self.recovery = []
        lines = []
        for line in self.proc.stdout:
            lines.append(line)
            m = URI_RE.match(line.rstrip("\n"))
            if m:
                b32 = re.search(r"[?&]secret=([A-Z2-7]+)", m.group(1)).group(1)
                self.key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
                try:
                    self.proc.stdin.write(code_of(self.key) + "\n")
                    self.proc.stdin.flush()
                except BrokenPipeError:
                    pass
                break
        self.stdout = "".join(lines)

    def finish(self, timeout=60):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            err += "\n[totp-enroll killed after %d s]" % timeout
        self.stdout += out
        self.stderr = err
        self.recovery = RECOVERY_RE.findall(self.stdout)
        return self.proc.returncode


# --- totp-admin's output --------------------------------------------------------

def parse_json(text):
    """One JSON document, and nothing after it but a line end."""
    if not text.endswith("}\n") or text.count("\n") != 1:
        raise ValueError("not one JSON document on one line: %r" % text[-200:])
    return json.loads(text)


def parse_table(text):
    """The rows of the first table in TEXT (its header: the first line in
    capitals; it ends at the first empty line), as dicts by column name.
    Columns are where the header's names start: a cell is the text from
    its column's start to the next one's."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line and line == line.upper() and "  " in line), None)
    if start is None:
        return []
    header = lines[start]
    cols = [(m.start(), m.group(0)) for m in re.finditer(r"\S+(?: \S+)*", header)]
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        row = {}
        for i, (pos, name) in enumerate(cols):
            end = cols[i + 1][0] if i + 1 < len(cols) else len(line)
            if pos > 0 and len(line) > pos and line[pos - 1] != " ":
                row[name] = None  # the cell before runs into this column: not aligned
                continue
            row[name] = line[pos:end].strip()
        rows.append(row)
    return rows


def names(account):
    return [t["name"] for t in account["tokens"]]


def last(account):
    """(service, rhost, tty) of the account's last login, or None."""
    login = account["last_login"]
    return None if login is None else (login["service"], login["rhost"], login["tty"])


def iso(unix):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def text_time(unix):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix))


# The fields totp-admin(8) documents (JSON OUTPUT), with their JSON types;
# "time" is a KEY_at string (RFC 3339, UTC) with its KEY_unix integer.
STR, INT, BOOL, NULL, LIST, OBJ = str, int, bool, type(None), list, dict
LIST_FIELDS = {"secret_file_template": (STR,), "homes": (BOOL,), "store": (STR,), "state_dir": (STR, NULL),
               "store_config": (STR, NULL), "now": "time", "accounts": (LIST,), "problems": (LIST,)}
ACCOUNT_FIELDS = {
    "user": (STR,), "secret_file": (STR, NULL), "secret_status": (STR,), "secret_problem": (STR, NULL),
    "format": (INT, NULL), "enrolled": "time", "tokens": (LIST,), "recovery_codes": (INT, NULL),
    "recovery_codes_left": (INT, NULL), "state_status": (STR,), "state_problem": (STR, NULL),
    "last_login": (OBJ, NULL), "failures_in_window": (INT,), "failures_since_success": (INT,), "deny": (INT,),
    "fail_interval": (INT,), "locked": (BOOL,), "locked_until": "time", "lockouts_in_a_row": (INT,),
    "debt_seconds": (INT,), "unsettled_attempt": "time"}
TOKEN_FIELDS = {
    "name": (STR,), "type": (STR,), "algorithm": (STR,), "digits": (INT,), "period": (INT, NULL),
    "token_id": (STR,), "added": "time", "used_until": "time", "clock_offset": (INT, NULL),
    "drift_observed": (BOOL,), "next_counter": (INT, NULL), "unsettled_attempt": (BOOL,),
    "state_problem": (STR, NULL)}
LOGIN_FIELDS = {"at": (STR,), "unix": (INT,), "service": (STR, NULL), "rhost": (STR, NULL), "tty": (STR, NULL)}
SECRET_STATUS = {"found", "missing", "refused", "malformed", "not_read", "no_account", "error"}
STATE_STATUS = {"found", "none", "error"}


def _expand(fields):
    out = {}
    for key, types in fields.items():
        if types == "time":
            out[key + "_at"] = (STR, NULL)
            out[key + "_unix"] = (INT, NULL)
        else:
            out[key] = types
    return out


def schema_problems(obj, fields, where):
    """What is wrong with OBJ against FIELDS: missing or unknown fields,
    wrong types, a KEY_at that is not KEY_unix in RFC 3339."""
    want = _expand(fields)
    problems = []
    if set(obj) != set(want):
        problems.append("%s: fields %s missing, %s unknown" % (where, sorted(set(want) - set(obj)),
                                                              sorted(set(obj) - set(want))))
    for key, types in want.items():
        if key in obj and not (type(obj[key]) in types):  # bool is not an int here
            problems.append("%s.%s: %r is not %s" % (where, key, obj[key], "/".join(t.__name__ for t in types)))
    for key in fields:
        if fields[key] == "time" and key + "_at" in obj and key + "_unix" in obj:
            at, unix = obj[key + "_at"], obj[key + "_unix"]
            if (at is None) != (unix is None) or (unix is not None and at != iso(unix)):
                problems.append("%s.%s_at %r does not say %s_unix %r" % (where, key, at, key, unix))
    return problems


def check_schema(results, what, doc):
    """One check: the --list document and every account, token and last
    login in it have exactly the documented fields and types."""
    problems = schema_problems(doc, LIST_FIELDS, "document")
    if not all(isinstance(p, str) for p in doc.get("problems", [])):
        problems.append("problems: not all strings")
    for a in doc.get("accounts", []):
        where = "account %s" % a.get("user")
        problems += schema_problems(a, ACCOUNT_FIELDS, where)
        if a.get("secret_status") not in SECRET_STATUS or a.get("state_status") not in STATE_STATUS:
            problems.append("%s: status %r / %r" % (where, a.get("secret_status"), a.get("state_status")))
        if isinstance(a.get("last_login"), dict):
            problems += schema_problems(a["last_login"], LOGIN_FIELDS, where + " last_login")
            if a["last_login"]["at"] != iso(a["last_login"]["unix"]):
                problems.append(where + ": last_login.at is not its unix time")
        for t in a.get("tokens", []):
            problems += schema_problems(t, TOKEN_FIELDS, "%s token %s" % (where, t.get("name")))
    results.check("%s: every field as totp-admin(8) documents it (names, types, times in UTC)" % what,
                  not problems, "\n".join(problems))

