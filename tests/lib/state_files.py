"""A strict reader of pam_totp's state directory (pam_totp(8), FILES), for
the Python test suites: the two-slot state files (core/store/slot_file.h)
and their text (format version 2, core/store/state_format.h), and the
token claims (t-TOKENID symlinks). Written from the format's description,
not from the C++ code, so that a test reading a state through it checks
the writer against the documented format too. Standard library only.

    st = read_state("/var/lib/pam_totp/u-alice")   # None when absent
    st["account"], st["lockouts"], st["locked_until"], st["debt_until"], st["since_success"],
    st["failures"], st["charge"], st["grace"], st["last_login"], st["tokens"][ID]
    claims("/var/lib/pam_totp")                    # {token id: state file name}
"""

import hashlib
import os
import struct

MAGIC = b"PTOTPST2"
HEADER = 64
CHECKED = 32

ACCOUNT_KEYS = {"account", "lockouts", "locked_until", "debt_until", "since_success", "charge", "charge_weight",
                "last_login", "last_service", "last_rhost", "last_tty"}
TOKEN_KEYS = {"used_until", "hotp_next", "drift", "pending_until", "pending_hotp", "pending_recovery"}


class StateError(Exception):
    pass


def _slot(data):
    """(seq, durable, text) of a valid slot, None for an invalid one."""
    if data[:8] != MAGIC:
        return None
    seq, length, flags, reserved = struct.unpack_from("<QIIQ", data, 8)
    if length > len(data) - HEADER or flags & ~1 or reserved != 0:
        return None
    text = data[HEADER:HEADER + length]
    if hashlib.sha256(data[:CHECKED] + text).digest() != data[CHECKED:HEADER]:
        return None
    return seq, bool(flags & 1), text.decode("ascii")


def newest_text(path):
    """The text of the newest valid slot; None when the file is absent or
    was never written; StateError when it is damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    if not data:
        return None
    half = len(data) // 2
    if len(data) % 2 or half < 1024 or half > 256 * 1024 or half & (half - 1):
        raise StateError("%s: %d bytes is not two slots" % (path, len(data)))
    slots = [_slot(data[:half]), _slot(data[half:])]
    valid = [s for s in slots if s is not None]
    if not valid:
        if data[:half] == bytes(half) or data[half:] == bytes(half):
            return None
        raise StateError("%s: no valid slot" % path)
    return max(valid)[2]


def parse_text(text, where="state"):
    lines = text.split("\n")
    if lines[0] != "version 2":
        raise StateError("%s: line 1 is not 'version 2'" % where)
    st = {"account": None, "lockouts": 0, "locked_until": 0, "debt_until": 0, "since_success": 0, "failures": [],
          "charge": None, "grace": [], "last_login": None, "tokens": {}}
    token = None
    seen = set()
    for n, line in enumerate(lines[1:], start=2):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(" ")
        if not sep or not value or " " in value:
            raise StateError("%s line %d: malformed" % (where, n))
        if key == "token":
            if value in st["tokens"]:
                raise StateError("%s line %d: token twice" % (where, n))
            token = {"used_until": 0, "hotp_next": None, "drift": None, "pending_until": None,
                     "pending_hotp": None, "pending_recovery": None, "recovery_used": [],
                     "recovery_maybe_used": []}
            st["tokens"][value] = token
            seen = set()
        elif token is None and key == "failure":
            st["failures"].append(int(value))
        elif token is None and key == "grace":  # PLACE:GRANTED (grace_period=), repeatable
            place, _, granted = value.partition(":")
            if len(place) != 16 or place.strip("0123456789abcdef") or not granted.isdigit():
                raise StateError("%s line %d: grace is not 16 lower-case hex digits, ':' and a time" % (where, n))
            st["grace"].append((place, int(granted)))
        elif token is None and key in ACCOUNT_KEYS:
            if key in seen:
                raise StateError("%s line %d: duplicate %s" % (where, n, key))
            seen.add(key)
            if key == "account":
                st["account"] = value
            elif key in ("last_service", "last_rhost", "last_tty"):
                st.setdefault("last_login_items", {})[key[5:]] = value
            else:
                st[key] = int(value)
        elif token is not None and key in TOKEN_KEYS:
            if key in seen:
                raise StateError("%s line %d: duplicate %s" % (where, n, key))
            seen.add(key)
            if key == "drift":  # OFFSET:FILE_OFFSET:FILE_CONFIRMED
                token[key] = tuple(int(v) for v in value.split(":", 2))
            elif key == "pending_hotp":  # TAG:LAST
                tag, _, last = value.partition(":")
                token[key] = (tag, int(last))
            else:
                token[key] = value if key == "pending_recovery" else int(value)
        elif token is not None and key in ("recovery_used", "recovery_used_old"):
            token["recovery_used"].append(value)
        elif token is not None and key == "recovery_maybe_used":
            token["recovery_maybe_used"].append(value)
        else:
            raise StateError("%s line %d: unknown key %s" % (where, n, key))
    if st["account"] is None:
        raise StateError("%s: no 'account' line" % where)
    return st


def read_state(path):
    """The parsed newest record of a state file; None when absent or never written."""
    text = newest_text(path)
    return None if text is None else parse_text(text, path)


def claims(state_dir):
    """{token id: state file name} from the t-TOKENID links (never followed)."""
    out = {}
    for name in os.listdir(state_dir):
        if name.startswith("t-"):
            out[name[2:]] = os.readlink(os.path.join(state_dir, name))
    return out


def account_state(state_dir, account):
    """The state of `account` (its u-NAME file), None when it has none."""
    return read_state(os.path.join(state_dir, "u-" + account))


def token_record(state_dir, token_id):
    """A token's replay record, through its claim; None when it has none."""
    holder = claims(state_dir).get(token_id)
    if holder is None:
        return None
    st = read_state(os.path.join(state_dir, holder))
    return None if st is None else st["tokens"].get(token_id)


def token_id(key_bytes):
    """The id pam_totp keys a secret's replay record by (core/otp/token.h)."""
    return hashlib.sha256(b"pam_totp token id v1\0" + key_bytes).hexdigest()[:32]
