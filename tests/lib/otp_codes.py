"""One-time codes for the Python suites: RFC 4226 HOTP and RFC 6238 TOTP
with HMAC-SHA1 (what the module's default tokens are), and a code that
matches none of a set (a wrong code that no window could accept).
Standard library only."""

import base64
import hashlib
import hmac
import struct


def key_of(secret_b32):
    """The key bytes of a base32 secret, padding added as needed."""
    return base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))


def hotp(key, counter, digits=6):
    """RFC 4226 section 5.3 with HMAC-SHA1."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return "%0*d" % (digits, value % (10 ** digits))


def totp(key, step, digits=6):
    """RFC 6238 for time step STEP: the HOTP of the step."""
    return hotp(key, step, digits)


def code_not_in(near, serial=0):
    """A 6-digit code not in NEAR; SERIAL picks another for each caller
    that needs several different ones."""
    n = serial
    while True:
        candidate = "%06d" % ((n * 7919 + 123457) % 1000000)
        if candidate not in near:
            return candidate
        n += 1
