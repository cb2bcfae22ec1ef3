"""The test users' entries in a namespace's own user database: shadow
password hashes. Used by tests/security/world.py (and so tests/locker) and
tests/e2e/run.py. Standard library only (openssl when Python has no crypt).
"""

import subprocess
import warnings


def password_hash(password):
    """A SHA-512 crypt hash of PASSWORD for a shadow entry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt  # pylint: disable=import-outside-toplevel
            return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
        except ImportError:
            pass
    out = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()
