"""The grace period (grace_period=, pam_totp(8) OPTIONS) through the real
sshd and ssh of run.py, from two places: 127.0.0.1 and 127.0.0.2 (a second
loopback address, ssh -b). The stack is password + code: pam_unix, then the
module with a state_dir of its own for each test.

grace_period (grace_period=5): after a code was accepted from 127.0.0.1,
the next login from there is asked the password alone (the prompts askpass
saw) and ends in the audit line outcome=grace; 127.0.0.2 is still asked
for the code, refused with a wrong one, let in with the right one. Once the
period is over, 127.0.0.1 is asked again (and let in with a recovery code,
which grants a grace as a code does), and so is 127.0.0.2.

grace_lockout (grace_period=3600 deny=2 unlock_time=3): two wrong codes
from 127.0.0.2 lock code entry, and 127.0.0.1, in its grace, is then
refused without being asked for a code (audit outcome=locked); once the
lockout is over, its grace is there again.

Time passes for real: a period of 5 s and a lockout of 3 s, and the tests
wait for their end (about 10 s in all). The time shim (tests/tools/timeshim.c)
cannot move this module's clock: sshd runs PAM's authentication in a child
that empties its environment first (OpenSSH auth-pam.c, sshpam_thread:
environ[0] = NULL), so the shim, which looks TIME_SHIM_FILE up at every
call, finds no file there and keeps the real clock. Every wait is until a
time read from the state (when a grace was granted, when the lockout ends),
never a guess; the logins that must fall within a period or a lockout say,
when they fail, how long after its start they ran.

Run by run.py (ALL_TESTS); standard library only.
"""

import time

import audit_log
import state_files

ALL_TESTS = ["grace_period", "grace_lockout"]

FIRST = "127.0.0.1"
SECOND = "127.0.0.2"
GRACE = 5            # grace_period= of grace_period
LONG_GRACE = 3600    # and of grace_lockout
DENY = 2             # deny=
UNLOCK = 3           # unlock_time= of grace_lockout
# window=1 (the default): a wrong code costs one wrong code of the long
# limit (pam_totp(8), GUESSING LIMITS: one per 3 codes compared), whose
# 2 x deny = 4 the two wrong codes of each test stay under.
WINDOW = 1
# Only one TOTP step after the enrollment's is sure to be within the window
# (replay records are per state_dir: each test has that one); the further
# logins with a code use recovery codes that no other test of the run types.
RECOVERY = (7, 8)


def wait_until(when):
    """Sleeps until the real clock reads WHEN (a little after: the module
    compares whole seconds)."""
    left = when + 0.05 - time.time()
    if left > 0:
        time.sleep(left)


class Grace:
    """The tests of ALL_TESTS. TESTS is run.py's Tests, RUN run.py itself,
    RECIPES exemptions.Recipes (for its login() and refused())."""

    def __init__(self, tests, run, recipes):
        self.env = tests.env
        self.r = tests.r
        self.run = run
        self.recipes = recipes
        self.port = None
        self.slog = None
        self.state = None     # the state_dir of the test running
        self.period = None    # and its grace_period=
        self.last = None      # the last step used in it
        self.recovery = []    # the recovery codes still to type

    # --- codes ----------------------------------------------------------------

    def code(self):
        """(a code of USER's secret the state has not seen used, its step)."""
        secret, _ = self.env.secrets[self.run.USER]
        return self.env.fresh_code_after(secret, self.last, WINDOW)

    def wrong(self):
        secret, _ = self.env.secrets[self.run.USER]
        now = int(time.time()) // self.run.PERIOD
        near = {self.env.code_for(secret, s) for s in range(now - WINDOW - 1, now + WINDOW + 2)}
        for candidate in ("000000", "123456", "999999", "314159"):
            if candidate not in near:
                return candidate
        raise RuntimeError("unlucky secret")

    # --- logins -----------------------------------------------------------

    def login(self, source, code, password=None):
        return self.recipes.login(self.port, self.slog, self.run.USER, code, password=password,
                                  source=source)

    def account(self):
        return state_files.account_state(self.state, self.run.USER)

    def granted(self, place):
        """When the state's grace for PLACE was granted (None: there is none)."""
        account = self.account()
        return dict(account["grace"]).get(place) if account else None

    def check(self, what, a, logged_in, asked, outcome, source, extra=True, failures=None, note=""):
        """One login's checks: in or refused, the prompts askpass saw, and
        its one audit line (outcome, user, service, rhost, tty[, failures
        and deny]); OUTCOME None: no audit line (the module did not run)."""
        audit = audit_log.audit_of(a.module)
        ok = (a.logged_in if logged_in else self.recipes.refused(a)) and a.asked == asked and extra
        if outcome is None:
            ok = ok and audit is None
        else:
            outcomes = outcome if isinstance(outcome, tuple) else (outcome,)
            ok = (ok and audit is not None and audit["outcome"] in outcomes
                  and audit["user"] == self.run.USER and audit["service"] == "sshd"
                  and audit["rhost"] == source and audit["tty"] == "ssh"
                  and (failures is None
                       or (audit.get("failures"), audit.get("deny")) == (str(failures), str(DENY))))
        return self.r.check("grace: %s" % what, ok, (note + "\n  " if note else "") + a.detail)

    def accepted(self, what, source, recovery=False):
        """A login from SOURCE asked password and code and let in, with a
        TOTP code or (RECOVERY) the next recovery code."""
        if recovery:
            code, step = self.recovery.pop(0), self.last
            said, outcome = "recovery code accepted", "recovery"
        else:
            (code, step), said, outcome = self.code(), "code accepted", "accepted"
        a = self.login(source, code)
        if self.check(what, a, True, ["password", "code"], outcome, source,
                      extra=any(said in l for l in a.module)):
            self.last = step
        return a

    def in_grace(self, what, source, since):
        """A login from SOURCE within the grace granted at SINCE: the
        password alone, and a wrong code in the answers (were the code
        asked, it would fail)."""
        a = self.login(source, self.wrong())
        ran = time.time() - since if since is not None else float("nan")
        return self.check(what, a, True, ["password"], "grace", source,
                          extra=any("not asked for a code" in l for l in a.module),
                          note="the login ended %.1f s after the grant (grace_period=%d)" % (ran, self.period))

    # --- the tests ---------------------------------------------------------

    def start(self, name, grace, extra=""):
        """sshd with password + code and grace_period=GRACE, the module's
        state in STATE-NAME (new: the enrollment's step is the last used)."""
        env, run = self.env, self.run
        self.state = env.path("state-" + name)
        self.period = grace
        self.last = env.secrets[run.USER][1]
        stack = ("auth requisite pam_unix.so nodelay\n"
                 "auth required %s state_dir=%s window=%d grace_period=%d deny=%d%s"
                 % (env.module, self.state, WINDOW, grace, DENY, extra))
        self.port, _, self.slog = env.start_sshd(name, "keyboard-interactive", stack)

    def grace_period(self):
        env, r, run = self.env, self.r, self.run
        if not r.check("grace: totp-enroll printed the recovery codes this test types",
                       len(env.recovery) > max(RECOVERY), "%d codes" % len(env.recovery)):
            return
        self.recovery = [env.recovery[i] for i in RECOVERY]
        self.start("grace", GRACE)

        # A code from 127.0.0.1, then no code from there.
        t0 = int(time.time())
        self.accepted("from %s: password + code, logged in" % FIRST, FIRST)
        account = self.account()
        graces = account["grace"] if account else []
        r.check("grace: the state holds one grace, granted at the login",
                len(graces) == 1 and t0 <= graces[0][1] <= time.time(), str(account))
        first, g1 = graces[0] if graces else (None, None)

        self.in_grace("from %s again: logged in on the password alone, audit outcome=grace" % FIRST,
                      FIRST, g1)
        a = self.login(FIRST, self.wrong(), password="not-" + env.password)
        self.check("from %s with a wrong password: refused, the module never runs" % FIRST,
                   a, False, ["password"], None, FIRST, extra=not a.module)

        a = self.login(SECOND, self.wrong())
        self.check("from %s: asked for the code, refused with a wrong one (failures=1)" % SECOND,
                   a, False, ["password", "code"], "wrong", SECOND, failures=1)
        self.accepted("from %s: asked for the code, logged in with the right one (a recovery code)"
                      % SECOND, SECOND, recovery=True)
        account = self.account()
        graces = dict(account["grace"]) if account else {}
        second = next((p for p in graces if p != first), None)
        r.check("grace: the state holds a grace for each place", len(graces) == 2 and first in graces,
                str(account))

        # The period over: asked again, and a new grace follows the code.
        if g1 is None or second is None:
            return
        wait_until(g1 + GRACE)
        t0 = int(time.time())
        self.accepted("the period over: from %s asked for the code again, logged in (a recovery code)"
                      % FIRST, FIRST, recovery=True)
        g2 = self.granted(first)
        r.check("grace: the state's grace for %s is renewed at that login" % FIRST,
                g2 is not None and t0 <= g2 <= time.time(), "granted %s, login at %d" % (g2, t0))
        self.in_grace("then from %s: not asked for the code" % FIRST, FIRST, g2)
        wait_until(graces[second] + GRACE)
        a = self.login(SECOND, self.wrong())
        self.check("its period over: from %s asked for the code, refused with a wrong one" % SECOND,
                   a, False, ["password", "code"], "wrong", SECOND, failures=1)

    def grace_lockout(self):
        r = self.r
        self.start("grace-lockout", LONG_GRACE, " unlock_time=%d" % UNLOCK)
        self.accepted("lockout: from %s: password + code, logged in" % FIRST, FIRST)
        account = self.account()
        graces = account["grace"] if account else []
        g1 = graces[0][1] if len(graces) == 1 else None
        self.in_grace("lockout: from %s again: not asked for the code" % FIRST, FIRST, g1)

        # Someone guessing from 127.0.0.2 locks code entry: 127.0.0.1 is
        # then refused too, in its grace or not, and not asked for a code.
        a = self.login(SECOND, self.wrong())
        self.check("lockout: deny=%d: a wrong code from %s (failures=1)" % (DENY, SECOND),
                   a, False, ["password", "code"], "wrong", SECOND, failures=1)
        a = self.login(SECOND, self.wrong())
        # (failures= of that line is not checked: pam_totp(8) leaves it open.)
        self.check("lockout: deny=%d: a second wrong code from %s locks code entry" % (DENY, SECOND),
                   a, False, ["password", "code"], ("wrong", "locked"), SECOND,
                   extra=any("too many wrong codes" in l for l in a.module))
        account = self.account()
        locked_until = account["locked_until"] if account else 0
        if not r.check("grace: lockout: the state records a lockout of unlock_time=%d s" % UNLOCK,
                       time.time() - 1 < locked_until <= time.time() + UNLOCK, str(account)):
            return   # not one to wait for
        # What the module tells the user ("Too many wrong codes ...") never
        # reaches ssh: sshd sends PAM's messages along with the next prompt,
        # and a failed login has none. Its log line says it.
        a = self.login(FIRST, self.wrong())
        self.check("lockout: from %s (in its grace) refused, not asked for a code, audit outcome=locked"
                   % FIRST, a, False, ["password"], "locked", FIRST,
                   extra=any("code entry locked" in l for l in a.module),
                   note="the login ended %.1f s before the lockout's end" % (locked_until - time.time()))

        # The lockout over: 127.0.0.1 in its grace again.
        wait_until(locked_until)
        self.in_grace("lockout over, within the period: from %s not asked for the code" % FIRST, FIRST, g1)
