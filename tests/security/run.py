#!/usr/bin/python3
"""Security tests of pam_totp: the findings of issue 12 attacked through
the real setuid su (util-linux) and root's totp-enroll.

    TOTP_ENROLL=/abs/totp-enroll PAM_TOTP_MODULE=/abs/pam_totp.so \
    TESTS_DATA=/abs/tests/data /usr/bin/python3 tests/security/run.py

(`make build/results/security` sets these; PAM_LOGIN and TIME_SHIM are not
used: su is setuid, so no LD_PRELOAD clock reaches it.) SECURITY_ONLY=a,b
runs only the tests whose names contain one of the words.

Needs root, util-linux (su, unshare, setpriv, prlimit), oathtool and
python3-pexpect; exits 77 without them. The host is never changed: this
script makes a temporary directory and runs ns_suite.py as the init of
private mount and PID namespaces (`unshare --mount --pid`), where world.py
puts the test's passwd, shadow, group, login.defs and pam.d in a tmpfs
copy of /etc, the test's socket at /dev/log, and tmpfs over /run and
/var/log. The test users (an attacker and the victims) exist only in
there; the mounts die with the namespace's last process.

Every process started is killed at the end, also on failure or Ctrl-C:
this script is the subreaper of all it starts and ns_suite.py the init of
its PID namespace, and should this script be killed outright, setpriv
--pdeathsig and unshare --kill-child take the namespace's init down, and
the kernel every process in it. Afterwards it checks that the host's
pam.d/su, pam.d/other and login.defs are unchanged, that no test user is
in its user database or login records, that no process is left and that
the temporary directory is gone. All that (the run, the counting, the
cleanup, the checks afterwards) is tests/lib/ns_runner.py's.

The last line is "N passed, M failed"; the exit status is 0 when all
passed, 1 when any failed, 77 when the suite cannot run here.
"""

import importlib.util
import os
import shutil
import stat
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import ns_runner  # noqa: E402

NS_SUITE = os.path.join(HERE, "ns_suite.py")
SUITE_TIMEOUT = 300       # seconds; the suite takes well under a minute
# Files whose content must be the same after the run (the namespace has
# its own copies). The user database and the login records may change
# meanwhile (`make -j2 check` runs tests/cli, which adds users on the
# host): in those only the test users must never appear.
WATCHED = ["/etc/login.defs", "/etc/pam.d/su", "/etc/pam.d/other"]
TEST_USERS = ["totpatk"] + ["totpv%d" % i for i in range(1, 8)]


def main():
    if os.geteuid() != 0:
        return ns_runner.skip("needs root (runs su as an unprivileged attacker in a private mount namespace)")
    env = {}
    for var in ("PAM_TOTP_MODULE", "TOTP_ENROLL", "TESTS_DATA"):
        value = os.environ.get(var, "")
        if not os.path.isabs(value) or not os.path.exists(value):
            print("error: %s must name the built file (or tests/data) by absolute path (got %r)" % (var, value))
            print("0 passed, 1 failed")
            return 1
        env[var] = value
    env["SECURITY_ONLY"] = os.environ.get("SECURITY_ONLY", "")
    missing = [p for p in ("unshare", "setpriv", "prlimit", "oathtool") if not shutil.which(p)]
    su = shutil.which("su") or "/bin/su"
    try:
        st = os.stat(su)
        if st.st_uid != 0 or not st.st_mode & stat.S_ISUID:
            missing.append("a setuid-root su")
    except FileNotFoundError:
        missing.append("su")
    if importlib.util.find_spec("pexpect") is None:
        missing.append("python3-pexpect")
    if missing:
        return ns_runner.skip("missing " + ", ".join(missing))
    why = ns_runner.namespaces_work()
    if why:
        return ns_runner.skip("no mount namespaces here: " + why)
    # The namespace (setpriv --pdeathsig KILL unshare --mount --pid --fork
    # --kill-child=KILL ...): when its init, ns_suite.py, dies, the kernel
    # kills every process in there (a SIGSTOPped setuid su included, which
    # no parent-death signal reaches); --kill-child kills it when unshare
    # dies, and setpriv --pdeathsig kills unshare when this script dies,
    # even by SIGKILL.
    return ns_runner.run_suite(script=NS_SUITE, prefix="pam_totp-security.", env=env,
                               mntns_var="SECURITY_HOST_MNTNS", test_users=TEST_USERS, watched=WATCHED,
                               timeout=SUITE_TIMEOUT)


if __name__ == "__main__":
    sys.exit(main())
