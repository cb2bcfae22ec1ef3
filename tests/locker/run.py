#!/usr/bin/python3
"""Screen lockers and other programs that run PAM as the user (issue 16,
pam_totp(8) UNPRIVILEGED CALLERS): pamtester and vlock as unprivileged
users, and hostile callers of the setuid helper pam_totp_check.

    TESTS_DATA=/abs/tests/data PAM_TOTP_MODULE=/abs/pam_totp.so \
    TOTP_ENROLL=/abs/totp-enroll PAM_LOGIN=/abs/pam_login TOTP_ADMIN=/abs/totp-admin \
    PAM_TOTP_CHECK=/abs/pam_totp_check /usr/bin/python3 tests/locker/run.py

(`make build/results/locker` sets these; TIME_SHIM is not used: the helper
is setuid, so no LD_PRELOAD clock reaches it, and the tests use real
codes.) LOCKER_ONLY=a,b runs only the tests whose names contain one of
the words.

Needs root, util-linux (unshare, setpriv, prlimit, runuser), pamtester,
vlock, oathtool, a C compiler and python3-pexpect; exits 77 without them.
The host is never changed: ns_suite.py runs as the init of private mount
and PID namespaces in which /etc, /dev, /usr/sbin and /var/lib are tmpfs
copies (each entry bind-mounted) holding the test users, the test's pam.d,
/etc/pam_totp, /dev/log (a socket the test reads), /usr/sbin/pam_totp_check
(a setuid-root copy of the build's helper on a tmpfs that exists only in
there) and /var/lib/pam_totp. tests/lib/ns_runner.py then checks that the
host's files are as they were, that no test user, process or temporary
directory is left.

The last line is "N passed, M failed"; the exit status is 0 when all
passed, 1 when any failed, 77 when the suite cannot run here.
"""

import importlib.util
import os
import shutil
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import ns_runner  # noqa: E402

NS_SUITE = os.path.join(HERE, "ns_suite.py")
SUITE_TIMEOUT = 240       # seconds; the suite takes well under a minute
TEST_USERS = ["totpatk", "totpalias"] + ["totpl%d" % i for i in range(1, 14)]
# The namespace has its own copies of these; the host's must not change.
WATCHED = ["/etc/login.defs", "/etc/pam.d/other", "/etc/pam.d/vlock", "/etc/pam.d/runuser",
           "/etc/pam_totp/helper.conf", "/usr/sbin/pam_totp_check", "/usr/sbin/vlock-main"]
# Present or absent, as before the run.
EXISTENCE = ["/etc/pam_totp", "/var/lib/pam_totp", "/usr/sbin/pam_totp_check", "/etc/pam.d/vlock"]


def main():
    if os.geteuid() != 0:
        return ns_runner.skip("needs root (private mount namespaces, test users, a setuid-root helper copy)")
    env = {}
    for var in ("PAM_TOTP_MODULE", "TOTP_ENROLL", "TESTS_DATA", "PAM_LOGIN", "TOTP_ADMIN", "PAM_TOTP_CHECK"):
        value = os.environ.get(var, "")
        if not os.path.isabs(value) or not os.path.exists(value):
            print("error: %s must name the built file (or tests/data) by absolute path (got %r)" % (var, value))
            print("0 passed, 1 failed")
            return 1
        env[var] = value
    env["LOCKER_ONLY"] = os.environ.get("LOCKER_ONLY", "")
    missing = [p for p in ("unshare", "setpriv", "prlimit", "runuser", "oathtool", "pamtester", "vlock", "cc")
               if not shutil.which(p)]
    if not os.path.exists("/usr/sbin/vlock-main"):
        missing.append("vlock-main")
    if importlib.util.find_spec("pexpect") is None:
        missing.append("python3-pexpect")
    if missing:
        return ns_runner.skip("missing " + ", ".join(missing))
    why = ns_runner.namespaces_work()
    if why:
        return ns_runner.skip("no mount and PID namespaces here: " + why)
    existed = {p: os.path.lexists(p) for p in EXISTENCE}

    def extra_checks(check, _root):
        now = {p: os.path.lexists(p) for p in EXISTENCE}
        changed = [p for p in EXISTENCE if now[p] != existed[p]]
        check("host unchanged: %s present or absent as before" % ", ".join(EXISTENCE), not changed,
              "changed: " + " ".join(changed))

    return ns_runner.run_suite(script=NS_SUITE, prefix="pam_totp-locker.", env=env,
                               mntns_var="SECURITY_HOST_MNTNS", test_users=TEST_USERS, watched=WATCHED,
                               timeout=SUITE_TIMEOUT, extra_checks=extra_checks)


if __name__ == "__main__":
    sys.exit(main())
