"""The exemption recipes of README.md (Operating, Exemptions) and
pam_totp(8) EXEMPTIONS, each through the real sshd and ssh of run.py.

Skipping the code is left to PAM itself, not to new code in the module:
pam_succeed_if for a group, pam_access for a network, sshd's
AuthenticationMethods for key + code against password + code. Each test
below starts sshd with a recipe's PAM stack and sshd_config as the
documentation prints them (RECIPES; the documented names are only swapped
for the test's, see Recipes.stack), shows that the exempted login gets in
without the module ever running, and that everyone else is still asked for
the code, refused with a wrong one and let in with the right one. The
pitfalls the documentation warns about are run too, so that each warning
is what this libpam and this sshd really do.

Each recipe's sshd has a state_dir of its own (state-NAME), so that every
recipe can use codes of the steps after the enrollment's without waiting for
time (replay records are per state_dir: pam_totp(8), NOTES).
Run by run.py (ALL_TESTS); standard library only.
"""

import re

# The names the documentation uses, and the test's own (run.py).
DOC_EXEMPT_GROUP = "totp-exempt"
DOC_PASSWORD_GROUP = "ssh-password"
DOC_ACCESS_FILE = "/etc/security/access-totp.conf"
SECOND_SOURCE = "127.0.0.2"   # a second loopback address: ssh -b
KEY_THEN_CODE = "publickey,keyboard-interactive:pam"

# Debian 12's /etc/pam.d/common-auth as pam-auth-update writes it. The
# recipes that say "after @include common-auth" include this one.
COMMON_AUTH = """auth [success=1 default=ignore] pam_unix.so nullok
auth requisite pam_deny.so
auth required pam_permit.so
"""

RECIPES = {
    # Password + code (README, Configure).
    "password_code": """@include common-auth
auth required pam_totp.so""",
    # Password + code, a group exempted from the code.
    "group": """@include common-auth
auth [success=done default=ignore] pam_succeed_if.so quiet user ingroup totp-exempt
auth required pam_totp.so""",
    # The same with a jump: it works here only because common-auth's last
    # line has already made the stack's result a success.
    "group_jump": """@include common-auth
auth [success=1 default=ignore] pam_succeed_if.so quiet user ingroup totp-exempt
auth required pam_totp.so""",
    # Key + code (no password module), a group exempted from the code.
    "group_key": """auth [success=done default=ignore] pam_succeed_if.so quiet user ingroup totp-exempt
auth required pam_totp.so""",
    # The pitfall: a jump sets no result, and nothing before it succeeded.
    "group_key_jump": """auth [success=1 default=ignore] pam_succeed_if.so quiet user ingroup totp-exempt
auth required pam_totp.so""",
    # Password + code, the listed sources exempted from the code.
    "network": """@include common-auth
auth [success=done default=ignore] pam_access.so noaudit accessfile=/etc/security/access-totp.conf
auth required pam_totp.so""",
    # One sshd: key + code for everyone, password + code for ssh-password.
    "key_or_password": """auth [success=1 default=ignore] pam_succeed_if.so quiet user notingroup ssh-password
auth requisite pam_unix.so
auth required pam_totp.so""",
    # Key + code while enrolling: nullok as the only auth line.
    "nullok_alone": """auth required pam_totp.so nullok""",
    # The pitfall: pam_permit after it lets a user with no enrollment in on nothing.
    "nullok_permit": """auth required pam_totp.so nullok
auth required pam_permit.so""",
    # The safe form: a user with no enrollment gives the password instead.
    "nullok_safe": """auth [success=done ignore=ignore default=die] pam_totp.so nullok
auth requisite pam_unix.so""",
    # The pitfall: default=ignore lets a wrong code fall through to the password.
    "nullok_fallthrough": """auth [success=done default=ignore] pam_totp.so nullok
auth requisite pam_unix.so""",
}

# /etc/security/access-totp.conf of the network recipe: 127.0.0.2 is in the
# /31 (127.0.0.2 and .3), 127.0.0.1 is not. pam_access allows what no line
# matches, hence the last line.
ACCESS_TOTP = """# Logins from these addresses and networks are not asked for a code.
+:ALL:127.0.0.2/31 192.0.2.0/24
# Everyone else is.
-:ALL:ALL
"""
# The pitfall: the same without the last line.
ACCESS_TOTP_OPEN = """+:ALL:127.0.0.2/31 192.0.2.0/24
"""

ALL_TESTS = ["exempt_group", "exempt_group_key", "exempt_network", "key_or_password",
             "password_method", "nullok_with_key"]


class Attempt:
    """One ssh login: its outcome, the prompts seen, the syslog lines."""

    def __init__(self, rc, out, prompts, asked, lines, sshd, detail, logged_in):
        self.rc = rc
        self.out = out
        self.prompts = prompts
        self.asked = asked           # "password" / "code" / "other", in order
        self.lines = lines           # every syslog line of the login
        self.module = [l for l in lines if "pam_totp(" in l]
        self.sshd = sshd             # what sshd logged meanwhile
        self.detail = detail
        self.logged_in = logged_in


class Recipes:
    """The tests of ALL_TESTS. TESTS is run.py's Tests (its env, results and
    explain()); RUN is run.py itself, for its users, groups, kinds() and
    logged_in()."""

    def __init__(self, tests, run):
        self.t = tests
        self.run = run
        self.env = tests.env
        self.r = tests.r
        self.used = {}      # (user, state) -> the last step accepted there

    # --- the recipes as sshd ----------------------------------------------

    def stack(self, recipe, state, access=None):
        """The auth lines of RECIPE for the test: pam_totp.so becomes the
        built module with the recipe's own state_dir (window=3, so that a
        few logins in a row need no waiting), pam_unix gets nodelay (a wrong
        password fails at once instead of after 2 s), the documented group
        names and access file become the test's."""
        env = self.env
        table = {
            "pam_totp.so": "%s state_dir=%s window=3" % (env.module, env.path("state-" + state)),
            "pam_unix.so": "pam_unix.so nodelay",
            DOC_ACCESS_FILE: env.path(access or "access-totp.conf"),
            DOC_EXEMPT_GROUP: self.run.EXEMPT_GROUP,
            DOC_PASSWORD_GROUP: self.run.PASSWORD_GROUP,
        }
        pattern = "|".join(re.escape(k) + (r"\b" if k[0].isalpha() else "") for k in table)
        return re.sub(r"(?<![\w-])(?:%s)" % pattern, lambda m: table[m.group(0)], RECIPES[recipe])

    def sshd(self, recipe, methods, state=None, access=None, config_tail=""):
        services = {"common-auth": COMMON_AUTH.replace("pam_unix.so", "pam_unix.so nodelay")}
        state = state or recipe
        port, _, slog = self.env.start_sshd(state, methods, self.stack(recipe, state, access),
                                            services=services, config_tail=config_tail)
        return port, slog

    # --- logins -----------------------------------------------------------

    def login(self, port, slog, user, code="", password=None, key=False, source=None,
              methods="keyboard-interactive"):
        env = self.env
        mark = env.log.mark()
        slog.seek(0, 2)
        start = slog.tell()
        rc, out, prompts = env.ssh(port, user, env.password if password is None else password,
                                   code, key=key, methods=methods, source=source)
        env.log.flush()
        lines = env.log.since(mark)
        slog.seek(start)
        sshd = slog.read()
        return Attempt(rc, out, prompts, self.run.kinds(prompts), lines, sshd,
                       self.t.explain(rc, out, prompts, slog, mark), self.run.logged_in(rc, out))

    @staticmethod
    def key_passed(a, user):
        """sshd accepted USER's key as the first of two methods, so what
        came after was the PAM step's doing."""
        return "Partial publickey for %s " % user in a.sshd

    def code(self, user, state):
        """A code of USER's secret that state_dir STATE has not seen used."""
        secret, enrolled = self.env.secrets[user]
        return self.env.fresh_code_after(secret, self.used.get((user, state), enrolled), 3)

    def wrong(self, user):
        return self.env.wrong_code(self.env.secrets[user][0])

    def refused(self, a):
        return a.rc != 0 and self.run.REMOTE_OUT not in a.out

    def asked_and_accepted(self, what, port, slog, user, state, key=False, asked=None,
                           source=None, methods="keyboard-interactive"):
        """USER is asked ASKED (password and code by default), refused with a
        wrong code, let in with the right one."""
        asked = asked or ["password", "code"]
        a = self.login(port, slog, user, self.wrong(user), key=key, source=source, methods=methods)
        self.r.check("%s: %s with a wrong code: asked %s, refused" % (what, user, "+".join(asked)),
                     self.refused(a) and a.asked == asked, a.detail)
        code, step = self.code(user, state)
        a = self.login(port, slog, user, code, key=key, source=source, methods=methods)
        if self.r.check("%s: %s with the right code: asked %s, logged in" % (what, user, "+".join(asked)),
                        a.logged_in and a.asked == asked
                        and any("code accepted" in l for l in a.module), a.detail):
            self.used[(user, state)] = step
        return a

    # --- the tests ----------------------------------------------------------

    def exempt_group(self):
        """README/pam_totp(8): a group skips the code, password + code stack."""
        run = self.run
        r = self.r
        what = "group exemption after common-auth"
        port, slog = self.sshd("group", "keyboard-interactive:pam")
        a = self.login(port, slog, run.MEMBER)
        r.check("%s: a member logs in with the password alone, the module never runs" % what,
                a.logged_in and a.asked == ["password"] and not a.module, a.detail)
        a = self.login(port, slog, run.MEMBER, password="not-" + self.env.password)
        r.check("%s: a member with a wrong password: refused, no code asked" % what,
                self.refused(a) and a.asked == ["password"] and not a.module, a.detail)
        self.asked_and_accepted(what, port, slog, run.USER, "group")

        # The jump form: after common-auth (whose pam_permit has made the
        # result a success already) it works the same.
        what = "group exemption as a jump after common-auth"
        port, slog = self.sshd("group_jump", "keyboard-interactive:pam")
        a = self.login(port, slog, run.MEMBER)
        r.check("%s: a member logs in with the password alone" % what,
                a.logged_in and a.asked == ["password"] and not a.module, a.detail)
        a = self.login(port, slog, run.USER, self.wrong(run.USER))
        r.check("%s: a non-member is asked for the code and refused with a wrong one" % what,
                self.refused(a) and a.asked == ["password", "code"], a.detail)

    def exempt_group_key(self):
        """Key + code: the exemption must end the stack (done), not jump."""
        run = self.run
        r = self.r
        what = "group exemption, key + code"
        port, slog = self.sshd("group_key", KEY_THEN_CODE)
        a = self.login(port, slog, run.MEMBER, key=True, methods="publickey,keyboard-interactive")
        r.check("%s: a member logs in with the key alone, nothing asked" % what,
                a.logged_in and a.asked == [] and not a.module and self.key_passed(a, run.MEMBER)
                and "Accepted keyboard-interactive/pam for %s " % run.MEMBER in a.sshd, a.detail)
        a = self.login(port, slog, run.MEMBER, key=False)
        r.check("%s: a member without the key: refused, nothing asked" % what,
                self.refused(a) and a.asked == [], a.detail)
        self.asked_and_accepted(what, port, slog, run.USER, "group_key", key=True, asked=["code"],
                                methods="publickey,keyboard-interactive")

        what = "group exemption as a jump, key + code (the pitfall)"
        port, slog = self.sshd("group_key_jump", KEY_THEN_CODE)
        a = self.login(port, slog, run.MEMBER, key=True, methods="publickey,keyboard-interactive")
        r.check("%s: a member with the key is refused: the jump set no result" % what,
                self.refused(a) and a.asked == [] and not a.module and self.key_passed(a, run.MEMBER),
                a.detail)

    def exempt_network(self):
        """pam_access: logins from 127.0.0.2 skip the code, from 127.0.0.1 not."""
        run = self.run
        env, r = self.env, self.r
        with open(env.path("access-totp.conf"), "w") as f:
            f.write(ACCESS_TOTP)
        with open(env.path("access-totp-open.conf"), "w") as f:
            f.write(ACCESS_TOTP_OPEN)
        what = "network exemption"
        port, slog = self.sshd("network", "keyboard-interactive:pam")
        a = self.login(port, slog, run.USER, source=SECOND_SOURCE)
        came_from = "for %s from %s port" % (run.USER, SECOND_SOURCE) in a.sshd
        r.check("%s: from %s logs in with the password alone, the module never runs"
                % (what, SECOND_SOURCE),
                a.logged_in and came_from and a.asked == ["password"] and not a.module, a.detail)
        a = self.login(port, slog, run.USER, password="not-" + env.password, source=SECOND_SOURCE)
        r.check("%s: from %s with a wrong password: refused, no code asked" % (what, SECOND_SOURCE),
                self.refused(a) and a.asked == ["password"] and not a.module, a.detail)
        a = self.asked_and_accepted(what + " from 127.0.0.1", port, slog, run.USER, "network")
        # What pam_access logs for every login the exemption does not cover
        # (Linux-PAM 1.5.2 has no quiet_log): the documentation names it.
        r.check("%s: from 127.0.0.1 pam_access logs \"access denied\" and the code is asked" % what,
                any("pam_access(" in l and "access denied" in l and "127.0.0.1" in l
                    for l in a.lines), "\n  ".join(a.lines))

        what = "network exemption without the last line -:ALL:ALL (the pitfall)"
        port, slog = self.sshd("network", "keyboard-interactive:pam", state="network-open",
                               access="access-totp-open.conf")
        a = self.login(port, slog, run.USER)
        r.check("%s: from 127.0.0.1 logs in with the password alone" % what,
                a.logged_in and a.asked == ["password"] and not a.module, a.detail)

    def key_or_password(self):
        """One sshd: key + code, or password + code for the members of a
        group; a key user is never asked the password."""
        run = self.run
        r = self.r
        what = "key + code, or password + code for a group"
        tail = ("Match Group %s\n"
                "    AuthenticationMethods keyboard-interactive:pam\n" % run.PASSWORD_GROUP)
        port, slog = self.sshd("key_or_password", KEY_THEN_CODE, config_tail=tail)
        self.asked_and_accepted(what, port, slog, run.USER, "key_or_password", key=True,
                                asked=["code"], methods="publickey,keyboard-interactive")
        a = self.login(port, slog, run.USER, self.wrong(run.USER))
        r.check("%s: %s without the key: refused, nothing asked" % (what, run.USER),
                self.refused(a) and a.asked == [], a.detail)
        self.asked_and_accepted(what, port, slog, run.MEMBER, "key_or_password")
        a = self.login(port, slog, run.MEMBER, self.wrong(run.MEMBER), password="not-" + self.env.password)
        r.check("%s: %s with a wrong password: refused, no code asked" % (what, run.MEMBER),
                self.refused(a) and a.asked == ["password"] and not a.module, a.detail)
        code, step = self.code(run.MEMBER, "key_or_password")
        a = self.login(port, slog, run.MEMBER, code, key=True, methods="publickey,keyboard-interactive")
        if r.check("%s: %s offering the key is still asked password + code" % (what, run.MEMBER),
                   a.logged_in and a.asked == ["password", "code"], a.detail):
            self.used[(run.MEMBER, "key_or_password")] = step

    def password_method(self):
        """sshd's password method runs the same auth stack and answers the
        code prompt with the password: password + code cannot go that way."""
        run = self.run
        r = self.r
        what = "AuthenticationMethods password,keyboard-interactive:pam (the pitfall)"
        port, slog = self.sshd("password_code", "password,keyboard-interactive:pam",
                               state="password_method")
        a = self.login(port, slog, run.USER, self.code(run.USER, "password_method")[0],
                       methods="password,keyboard-interactive")
        r.check("%s: the right password is refused, the code never asked" % what,
                self.refused(a) and a.asked == ["password"], a.detail)
        r.check("%s: the module got the password as the code and counted a wrong code" % what,
                any("wrong" in l for l in a.module), "\n  ".join(a.module))

    def nullok_with_key(self):
        """nullok returns PAM_IGNORE: where pam_totp is the only auth line
        (key + code) another line must succeed, and pam_permit is not it."""
        run = self.run
        r = self.r
        key = dict(key=True, methods="publickey,keyboard-interactive")

        what = "key + code, nullok alone"
        port, slog = self.sshd("nullok_alone", KEY_THEN_CODE)
        a = self.login(port, slog, run.NOUSER, **key)
        r.check("%s: a user without enrollment is refused with the right key" % what,
                self.refused(a) and a.asked == [] and self.key_passed(a, run.NOUSER), a.detail)

        what = "nullok then pam_permit (the pitfall)"
        port, slog = self.sshd("nullok_permit", "keyboard-interactive")
        a = self.login(port, slog, run.NOUSER, password="")
        r.check("%s: reached without a key, a user without enrollment logs in on nothing" % what,
                a.logged_in and a.asked == [], a.detail)

        what = "key + code, nullok in the safe form"
        port, slog = self.sshd("nullok_safe", KEY_THEN_CODE)
        a = self.login(port, slog, run.NOUSER, **key)
        r.check("%s: a user without enrollment gives key + password" % what,
                a.logged_in and a.asked == ["password"] and self.key_passed(a, run.NOUSER), a.detail)
        a = self.login(port, slog, run.NOUSER, password="not-" + self.env.password, **key)
        r.check("%s: a user without enrollment with a wrong password: refused" % what,
                self.refused(a) and a.asked == ["password"], a.detail)
        self.asked_and_accepted(what, port, slog, run.USER, "nullok_safe", asked=["code"], **key)

        what = "key + code, nullok with default=ignore (the pitfall)"
        port, slog = self.sshd("nullok_fallthrough", KEY_THEN_CODE)
        a = self.login(port, slog, run.USER, self.wrong(run.USER), **key)
        r.check("%s: an enrolled user with a wrong code is asked the password and let in" % what,
                a.logged_in and a.asked == ["code", "password"], a.detail)
