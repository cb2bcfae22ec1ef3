#!/usr/bin/python3
"""The totp-admin suite: --list, --show and --reset (totp-admin(8)) against a
tree of real enrollments and real states, on both stores.

    TOTP_ADMIN=... TOTP_ENROLL=... PAM_TOTP_MODULE=... PAM_LOGIN=... \
    PGSQL_BACKEND=... TIME_SHIM=... /usr/bin/python3 tests/admin/run.py
                                                    (make build/results/admin)

One "host" (tests/lib/fleet_world.py: a private mount namespace with its
own /etc/passwd, /etc/pam.d, /etc/pam_totp, /var/lib/pam_totp and
/dev/log) and one throwaway PostgreSQL cluster (tests/lib/pg_cluster.py).
Every secret file is written by the real totp-enroll through pipes (one
with a TOTP and an HOTP token, through --add); every state by real logins
(pamtester, so that the remote host and tty are set) through the real
module on a simulated clock (the time shim): codes, wrong codes up to a
lockout, a recovery code. totp-admin runs in the host on the same clock.
The admin_helpers module beside this file parses its tables and JSON.

Root only. Exits 0 when all passed, 1 when anything failed, 77 when it
cannot run (not root, no PostgreSQL server binaries, a tool missing). The
last line is "N passed, M failed". Everything it starts is stopped and
everything it made removed at the end, also on failure or Ctrl-C.
"""

import base64
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import admin_helpers as ah  # noqa: E402
import fleet_world  # noqa: E402
from suite_run import Results, on_signal  # noqa: E402

PERIOD = fleet_world.PERIOD
SECRETS = "/etc/pam_totp/secrets"
CENTRAL = SECRETS + "/%u"
STATE_DIR = "/var/lib/pam_totp"
DENY = 5             # the module's default deny=
UNLOCK_TIME = 300    # and unlock_time=
RECOVERY = 3         # recovery codes per enrollment
# The test accounts (name: uid) in the host's own passwd; central files
# unless named in HOME_USERS.
UIDS = {"alice": 64831, "bob": 64832, "carol": 64833, "dave": 64834, "erin": 64835, "frank": 64836,
        "ghost": 64837, "pguser": 64838}
HOME_USERS = ("dave", "erin")
PASSWORD = "Admin-suite-" + os.urandom(6).hex()
SERVICES = {
    # secret= central files, store=file (the state in /var/lib/pam_totp)
    "adm-file": "secret=%s" % CENTRAL,
    # the default secret=~/.pam_totp
    "adm-home": "",
    # central files, the shared store
    "adm-pg": "secret=%s store=postgresql" % CENTRAL,
}


class Suite:
    def __init__(self, world, results):
        self.w = world
        self.r = results
        self.h = None
        self.enr = {}     # name -> ah.Enrollment
        self.marks = {}   # what happened, for the checks: name -> values

    # --- running things in the host -----------------------------------------

    def run(self, argv, input_text=None, shim=True, timeout=60):
        """(exit status, stdout, stderr) of ARGV in the host, on the clock."""
        p = self.w.popen(self.h.command(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=self.h.env(shim=shim))
        try:
            out, err = p.communicate(input_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err += "\n[killed after %d s]" % timeout
        return p.returncode, out, err

    def admin(self, *args):
        return self.run([self.w.admin] + list(args))

    def admin_json(self, *args):
        """totp-admin ARGS --json: the parsed document (exit 0 and nothing
        on standard error required)."""
        rc, out, err = self.admin(*(list(args) + ["--json"]))
        if rc != 0 or err:
            raise AssertionError("totp-admin %s --json: exit %s, stderr %r, stdout %r" % (args, rc, err, out[-400:]))
        return ah.parse_json(out)

    def login(self, service, user, answer, rhost="192.0.2.1", tty="pts/0"):
        """One login through pamtester (the real libpam and module, the
        host's /etc/pam.d), with PAM_RHOST and PAM_TTY set; (ok, output)."""
        rc, out, err = self.run(["pamtester", "-I", "rhost=" + rhost, "-I", "tty=" + tty, service, user,
                                 "authenticate"], answer + "\n", timeout=30)
        text = out + err
        return rc == 0 and "successfully authenticated" in text, text

    def now(self):
        return int(self.w.clock.now())

    # --- the tree ---------------------------------------------------------

    def setup(self):
        w = self.w
        t0 = time.monotonic()
        w.start_store()
        self.h = w.add_host("a", "socket", system_users=[(n, PASSWORD, u) for n, u in sorted(UIDS.items())])
        rc, out = w.init_store(self.h)
        if rc != 0 or "GRANT" not in out:
            raise RuntimeError("totp-admin --init-store failed (exit %s):\n%s" % (rc, out))
        w.apply_grants(out)
        for service, options in SERVICES.items():
            self.h.write_service(service, "auth required %s %s\n" % (w.module, options))
        self.r.note("host, cluster and schema in %.2f s" % (time.monotonic() - t0))

    def enroll(self, user, central=True, extra=()):
        """totp-enroll --user USER through pipes in the host (the app's code
        answered from the printed URI); the Enrollment."""
        args = ["--user", user, "--qr", "none", "--issuer", "admin-suite", "--recovery-codes", str(RECOVERY)]
        if central:
            args += ["--secret-file", CENTRAL]
        run = ah.EnrollRun(self.w.popen, self.h.command([os.environ["TOTP_ENROLL"]] + args + list(extra)),
                           self.h.env(), lambda key: ah.totp(key, self.w.clock.step()))
        rc = run.finish()
        if rc != 0 or run.key is None:
            raise AssertionError("totp-enroll --user %s: exit %s\n%s\n%s" % (user, rc, run.stdout, run.stderr))
        e = ah.Enrollment(user, run.key, run.recovery, central)
        self.enr[user] = e
        return e

    def secret_path(self, user):
        return self.h.etc("secrets", user)

    def home_secret(self, user):
        return self.h.path("home", user, ".pam_totp")

    # 1 --- enrollments ----------------------------------------------------
    def enrollments(self):
        r = self.r
        for user in ("alice", "carol", "frank", "ghost", "pguser"):
            self.enroll(user)
        bob = self.enroll("bob", extra=["--name", "phone"])
        # A second token: HOTP, its secret and first code on standard input.
        bob.hotp_key = os.urandom(20)
        rc, out, err = self.run([os.environ["TOTP_ENROLL"], "--add", "--user", "bob", "--secret-file", CENTRAL,
                                 "--name", "key", "--type", "hotp", "--counter", "0", "--secret-from", "-"],
                                "%s\n%s\n" % (base64.b32encode(bob.hotp_key).decode().rstrip("="),
                                              ah.hotp(bob.hotp_key, 0)))
        text = open(self.secret_path("bob")).read()
        r.check("enroll: bob's file has two tokens (totp-enroll --add --type hotp): format 2, phone and key",
                rc == 0 and text.startswith("version 2\n") and re.findall(r"^token (\S+)$", text, re.M)
                == ["phone", "key"] and re.search(r"^counter 1$", text, re.M) is not None,
                "exit %s: %s %s\n%s" % (rc, out, err, re.sub(r"secret \S+", "secret ...", text)))
        for user in HOME_USERS:
            self.enroll(user, central=False)
        r.check("enroll: dave's and erin's files are in their homes (totp-enroll --user, default secret file)",
                all(os.path.isfile(self.home_secret(u)) and os.stat(self.home_secret(u)).st_uid == UIDS[u]
                    for u in HOME_USERS))
        # erin's file becomes one the module refuses (group and world may read it).
        os.chmod(self.home_secret("erin"), 0o644)
        # In the central directory: a file that does not parse (mallory), and
        # names that are no account: a dot file (as totp-enroll's lock files
        # and temporary files are) and a name the module refuses.
        self.h.write_private("secrets/mallory", "version 1\nsecret nonsense\n")
        self.h.write_private("secrets/.zed.lock", "")
        self.h.write_private("secrets/-rf", "version 1\n")

    # 2 --- logins on the file store ----------------------------------------
    def logins(self):
        r, w = self.r, self.w
        alice, bob, carol = self.enr["alice"], self.enr["bob"], self.enr["carol"]
        step = w.clock.next_step()
        ok, out = self.login("adm-file", "alice", alice.code(step), "192.0.2.10", "pts/1")
        r.check("login: alice's code (adm-file, central file, store=file)", ok, out)
        self.marks["alice_used_until"] = (step + 1) * PERIOD
        w.clock.next_step()
        ok, out = self.login("adm-file", "alice", alice.recovery[0], "192.0.2.11", "pts/2")
        r.check("login: alice's recovery code", ok and "recovery code" in out.lower(), out)
        self.marks["alice_login"] = self.now()

        step = w.clock.next_step()
        ok, out = self.login("adm-file", "bob", bob.code(step), "198.51.100.7", "ssh")
        r.check("login: bob's phone (TOTP token of a format 2 file)", ok, out)
        self.marks["bob_used_until"] = (step + 1) * PERIOD
        ok, out = self.login("adm-file", "bob", ah.hotp(bob.hotp_key, 1), "198.51.100.8", "ssh")
        r.check("login: bob's key (HOTP counter 1)", ok, out)
        self.marks["bob_login"] = self.now()

        step = w.clock.next_step()
        ok, out = self.login("adm-file", "carol", carol.code(step), "203.0.113.9", "pts/4")
        r.check("login: carol's code", ok, out)
        self.marks["carol_step"] = step
        self.marks["carol_used_until"] = (step + 1) * PERIOD
        for i in range(DENY - 1):
            ok, out = self.login("adm-file", "carol", carol.wrong_code(step, i), "203.0.113.66", "pts/5")
            if ok:
                r.check("login: carol's wrong code %d refused" % (i + 1), False, out)
        self.marks["carol_before_lock"] = self.admin_json("--show", "carol", "--secret-file", CENTRAL)
        ok, out = self.login("adm-file", "carol", carol.wrong_code(step, DENY), "203.0.113.66", "pts/5")
        r.check("login: carol's wrong code number %d locks her out" % DENY,
                not ok and fleet_world.LOCK_TEXT in out, out)
        self.marks["carol_locked_at"] = self.now()

        ok, out = self.login("adm-home", "dave", self.enr["dave"].code(w.clock.step()), "192.0.2.40", "tty1")
        r.check("login: dave's code (adm-home: the file in his home)", ok, out)
        ok, out = self.login("adm-file", "ghost", self.enr["ghost"].code(w.clock.step()))
        r.check("login: ghost's code", ok, out)
        os.unlink(self.secret_path("ghost"))  # a state whose secret file has gone

    # 3 --- --list on the file store -----------------------------------------
    def list_file_store(self):
        r, m = self.r, self.marks
        before = m["carol_before_lock"]
        r.check("--show carol after %d wrong codes: %d within the window, not locked" % (DENY - 1, DENY - 1),
                before["failures_in_window"] == DENY - 1 and before["locked"] is False
                and before["locked_until_unix"] is None and before["failures_since_success"] == DENY - 1, before)

        doc = self.admin_json("--list", "--secret-file", CENTRAL)
        acc = {a["user"]: a for a in doc["accounts"]}
        expected = {"alice", "bob", "carol", "frank", "ghost", "mallory", "pguser", "dave"}
        r.check("--list --json: the central directory's files and the state's accounts, nothing else (%s; "
                "not .zed.lock or -rf)" % ", ".join(sorted(expected)), set(acc) == expected, sorted(acc))
        r.check("--list --json: the document says where it looked",
                doc["secret_file_template"] == CENTRAL and doc["store"] == "file" and doc["state_dir"] == STATE_DIR
                and doc["store_config"] is None and doc["homes"] is False and doc["problems"] == []
                and abs(doc["now_unix"] - self.now()) <= 5, {k: v for k, v in doc.items() if k != "accounts"})
        ah.check_schema(r, "--list --json", doc)

        a = acc["alice"]
        r.check("--list alice: token default, format 1, 2 of 3 recovery codes left (one used)",
                a["secret_status"] == "found" and a["format"] == 1 and ah.names(a) == ["default"]
                and a["recovery_codes"] == RECOVERY and a["recovery_codes_left"] == RECOVERY - 1, a)
        r.check("--list alice: last login = the recovery code's (time, service, remote host, tty)",
                ah.last(a) == ("adm-file", "192.0.2.11", "pts/2")
                and abs(a["last_login"]["unix"] - m["alice_login"]) <= 5
                and a["last_login"]["at"] == ah.iso(a["last_login"]["unix"]), a["last_login"])
        r.check("--list alice: the code's time step is used (codes used until its end)",
                a["tokens"][0]["used_until_unix"] == m["alice_used_until"], a["tokens"])
        b = acc["bob"]
        r.check("--list bob: format 2 with tokens phone (totp) and key (hotp)",
                b["format"] == 2 and ah.names(b) == ["phone", "key"]
                and [t["type"] for t in b["tokens"]] == ["totp", "hotp"], b["tokens"])
        r.check("--list bob: phone used until its step's end, key's next counter 2, no failures",
                b["tokens"][0]["used_until_unix"] == m["bob_used_until"] and b["tokens"][1]["next_counter"] == 2
                and b["tokens"][1]["used_until_unix"] is None and b["tokens"][0]["next_counter"] is None
                and b["failures_in_window"] == 0 and ah.last(b) == ("adm-file", "198.51.100.8", "ssh")
                and abs(b["last_login"]["unix"] - m["bob_login"]) <= 5, b)
        c = acc["carol"]
        locked_until = m["carol_locked_at"] + UNLOCK_TIME
        r.check("--list carol: locked until %d s after the last wrong code, 1 lockout, %d wrong since the last "
                "success" % (UNLOCK_TIME, DENY),
                c["locked"] is True and abs(c["locked_until_unix"] - locked_until) <= 5
                and c["lockouts_in_a_row"] == 1 and c["failures_since_success"] == DENY
                and c["failures_in_window"] == 0 and c["debt_seconds"] > 0, c)
        r.check("--list carol: last login is the one before the wrong codes",
                ah.last(c) == ("adm-file", "203.0.113.9", "pts/4"), c["last_login"])
        f = acc["frank"]
        confirmed = re.search(r"^confirmed (\d+)$", open(self.secret_path("frank")).read(), re.M)
        r.check("--list frank: enrolled, never logged in (no state); codes used until the end of the step that "
                "confirmed the enrollment",
                f["secret_status"] == "found" and f["state_status"] == "none" and f["last_login"] is None
                and f["recovery_codes_left"] == RECOVERY and confirmed is not None
                and f["tokens"][0]["used_until_unix"] == int(confirmed.group(1)), f)
        g = acc["ghost"]
        r.check("--list ghost: a state whose secret file is gone (secret missing, state found)",
                g["secret_status"] == "missing" and g["state_status"] == "found" and g["tokens"] == []
                and g["last_login"] is not None and g["recovery_codes"] is None, g)
        p = acc["pguser"]
        r.check("--list pguser: enrolled, no state in the file store",
                p["secret_status"] == "found" and p["state_status"] == "none", p)
        bad = acc["mallory"]
        r.check("--list mallory: a file that does not parse is reported as malformed (the line, what to do), "
                "the rest of the list goes on",
                bad["secret_status"] == "malformed" and bad["tokens"] == [] and bad["state_status"] == "none"
                and re.search(r"secrets/mallory: .*line \d", bad["secret_problem"] or "") is not None
                and "totp-enroll" in bad["secret_problem"], bad)
        d = acc["dave"]
        r.check("--list dave (state only for this template): no central file, the state of his login",
                d["secret_status"] == "missing" and d["state_status"] == "found"
                and ah.last(d) == ("adm-home", "192.0.2.40", "tty1"), d)

        # The same for people: a table with a header, aligned columns.
        rc, out, err = self.admin("--list", "--secret-file", CENTRAL)
        rows = ah.parse_table(out)
        by = {row["USER"]: row for row in rows}
        r.check("--list (text): exit 0, a header, one aligned row per account",
                rc == 0 and not err and set(by) == expected, "exit %s %r\n%s" % (rc, err, out))
        if set(by) == expected:
            r.check("--list (text): alice's row: tokens, last login, service, from, tty, recovery left/stored",
                    by["alice"]["TOKENS"] == "default" and by["alice"]["LAST LOGIN (UTC)"] == ah.text_time(
                        a["last_login"]["unix"]) and by["alice"]["SERVICE"] == "adm-file"
                    and by["alice"]["FROM"] == "192.0.2.11" and by["alice"]["TTY"] == "pts/2"
                    and by["alice"]["RECOVERY"] == "2/3" and by["alice"]["WRONG"] == "0", by["alice"])
            r.check("--list (text): carol's row says until when she is locked out",
                    by["carol"]["LOCKED UNTIL (UTC)"] == ah.text_time(c["locked_until_unix"]), by["carol"])
            r.check("--list (text): bob's tokens, frank's empty last login, ghost's missing file, mallory's "
                    "malformed one (and why, under Problems)",
                    by["bob"]["TOKENS"] == "phone,key" and by["frank"]["LAST LOGIN (UTC)"] == "-"
                    and by["ghost"]["TOKENS"] == "(no file)" and by["mallory"]["TOKENS"] == "(malformed)"
                    and re.search(r"^Problems:\n(  .*\n)*  mallory: .*secrets/mallory: ", out, re.M) is not None,
                    out)

    # 4 --- --show ------------------------------------------------------------
    def show(self):
        r, m = self.r, self.marks
        b = self.admin_json("--show", "bob", "--secret-file", CENTRAL)
        listed = {a["user"]: a for a in self.admin_json("--list", "--secret-file", CENTRAL)["accounts"]}["bob"]
        r.check("--show bob --json: one account object, the same as its --list entry",
                b == listed and b["secret_file"] == SECRETS + "/bob", b)
        phone, key = b["tokens"]
        r.check("--show bob --json: phone: sha1, 6 digits, 30 s, clock offset 0 (no drift), added, token id",
                phone["algorithm"] == "sha1" and phone["digits"] == 6 and phone["period"] == PERIOD
                and phone["clock_offset"] == 0 and phone["drift_observed"] is False
                and re.fullmatch(r"[0-9a-f]{32}", phone["token_id"]) is not None and phone["added_unix"] > 0
                and phone["unsettled_attempt"] is False, phone)
        r.check("--show bob --json: key: hotp, next counter 2, no period, clock offset or time step used",
                key["type"] == "hotp" and key["next_counter"] == 2 and key["period"] is None
                and key["clock_offset"] is None and key["used_until_unix"] is None, key)
        r.check("--show bob: the token ids name the claims in the state directory",
                all(os.path.islink(self.h.path("state", "t-" + t["token_id"])) for t in b["tokens"]),
                [t["token_id"] for t in b["tokens"]])

        rc, out, err = self.admin("--show", "bob", "--secret-file", CENTRAL)
        tokens = ah.parse_table(out[out.find("TOKEN "):]) if "TOKEN " in out else []
        by = {t["TOKEN"]: t for t in tokens}
        r.check("--show bob (text): exit 0, the file, the last login, a token table",
                rc == 0 and not err and "Secret file:" in out and SECRETS + "/bob (format 2" in out
                and "from 198.51.100.8, tty ssh" in out and set(by) == {"phone", "key"}, "%s %r\n%s" % (rc, err, out))
        if set(by) == {"phone", "key"}:
            r.check("--show bob (text): phone's codes used until its step's end; key's next counter 2",
                    by["phone"]["CODES USED UNTIL (UTC)"] == ah.text_time(m["bob_used_until"])
                    and by["key"]["NEXT COUNTER"] == "2" and by["key"]["TYPE"] == "hotp"
                    and by["phone"]["CLOCK OFFSET"] == "0 s", tokens)
        carol = self.admin_json("--show", "carol", "--secret-file", CENTRAL)
        rc, out, err = self.admin("--show", "carol", "--secret-file", CENTRAL)
        r.check("--show carol (text): locked until, the lockout count, how to end it",
                rc == 0 and re.search(r"Lockout: +until %s UTC \(\d+ min left; 1 lockout in a row\); "
                                      r"totp-admin --reset carol ends it" % ah.text_time(carol["locked_until_unix"]),
                                      out) is not None
                and re.search(r"Wrong codes: +0 within the last 900 s \(a lockout at 5\); 5 since", out)
                is not None, out)
        rc, out, err = self.admin("--show", "nobody-here", "--secret-file", CENTRAL)
        r.check("--show of an account that is not enrolled: exit 1, says what to check",
                rc == 1 and "nobody-here is not enrolled" in err and "--secret-file" in err and not out,
                "%s %r %r" % (rc, out, err))
        rc, out, err = self.admin("--show", "../etc", "--secret-file", CENTRAL)
        r.check("--show with a name the module refuses: exit 2 (usage)", rc == 2 and "--show" in err,
                "%s %r" % (rc, err))

    # 5 --- --homes -------------------------------------------------------------
    def homes(self):
        r = self.r
        plain = {a["user"]: a for a in self.admin_json("--list")["accounts"]}
        r.check("--list (default ~/.pam_totp, no --homes): the state's accounts, their files not read",
                set(plain) == {"alice", "bob", "carol", "dave", "ghost"}
                and all(a["secret_status"] == "not_read" and a["tokens"] == [] for a in plain.values()),
                {u: a["secret_status"] for u, a in plain.items()})
        rc, out, err = self.admin("--list")
        r.check("--list (text, no --homes): says --homes reads the files in the homes",
                rc == 0 and "(not read)" in out and "only with --homes" in out, out)

        doc = self.admin_json("--list", "--homes")
        acc = {a["user"]: a for a in doc["accounts"]}
        ah.check_schema(r, "--list --homes --json", doc)
        d, e = acc.get("dave"), acc.get("erin")
        r.check("--list --homes: dave's home file read (with his identity), his token, recovery codes, login",
                d is not None and d["secret_status"] == "found" and ah.names(d) == ["default"]
                and d["secret_file"] == self.home_secret("dave") and d["recovery_codes_left"] == RECOVERY
                and ah.last(d) == ("adm-home", "192.0.2.40", "tty1"), d)
        r.check("--list --homes: erin's file (mode 0644) reported as refused, with the reason, not read",
                e is not None and e["secret_status"] == "refused" and e["tokens"] == []
                and "0644" in (e["secret_problem"] or "") and e["state_status"] == "none", e)
        r.check("--list --homes: accounts of the state without a home file: missing",
                all(acc[u]["secret_status"] == "missing" for u in ("alice", "bob", "carol", "ghost")),
                {u: acc[u]["secret_status"] for u in ("alice", "bob", "carol", "ghost") if u in acc})
        # The host's own accounts: listed only for a file that is there (an
        # administrator's enrollment), never for a home the module would
        # refuse to look in when there is no file (as /var/mail).
        others = {u: (a["secret_status"], a["secret_file"]) for u, a in acc.items() if u not in UIDS}
        r.check("--list --homes: the host's other accounts are listed only when they have a file (%d do)"
                % len(others),
                all(a[1] and os.path.lexists(a[1]) and a[0] in ("found", "refused", "malformed")
                    for a in others.values()), others)
        rc, out, err = self.admin("--list", "--homes")
        rows = {row["USER"]: row for row in ah.parse_table(out)}
        r.check("--list --homes (text): exit 0; erin's row says refused, the reason under Problems",
                rc == 0 and rows.get("erin", {}).get("TOKENS") == "(refused)"
                and rows.get("dave", {}).get("TOKENS") == "default"
                and re.search(r"^Problems:\n(  .*\n)*  erin: .*0644", out, re.M) is not None, out)

    # 6 --- --reset on the file store -----------------------------------------
    def reset_file_store(self):
        r, w, m = self.r, self.w, self.marks
        carol = self.enr["carol"]
        before = self.admin_json("--show", "carol", "--secret-file", CENTRAL)
        rc, out, err = self.admin("--reset", "carol")
        r.check("--reset carol: exit 0, says the lockout ended and used codes stay used",
                rc == 0 and "the lockout ended" in out and "%d wrong codes forgotten" % DENY in out
                and "used codes stay used" in out, "%s %r %r" % (rc, out, err))
        after = self.admin_json("--show", "carol", "--secret-file", CENTRAL)
        r.check("--reset carol: not locked, no wrong codes, no lockout in a row, no debt",
                after["locked"] is False and after["failures_in_window"] == 0
                and after["failures_since_success"] == 0 and after["lockouts_in_a_row"] == 0
                and after["debt_seconds"] == 0, after)
        r.check("--reset carol: every replay record kept (the token's codes used until the same time), "
                "and the last login",
                after["tokens"] == before["tokens"] and after["tokens"][0]["used_until_unix"] == m["carol_used_until"]
                and after["last_login"] == before["last_login"], (before["tokens"], after["tokens"]))
        ok, out = self.login("adm-file", "carol", carol.code(m["carol_step"]), "203.0.113.9", "pts/4")
        r.check("after --reset: carol's code used before the lockout is still refused (replay)",
                not ok and "already used" in out and fleet_world.LOCK_TEXT not in out, out)
        step = w.clock.next_step()
        ok, out = self.login("adm-file", "carol", carol.code(step), "203.0.113.9", "pts/4")
        r.check("after --reset: carol's next code is accepted", ok, out)

        alice = self.enr["alice"]
        before = self.admin_json("--show", "alice", "--secret-file", CENTRAL)
        rc, out, err = self.admin("--reset", "alice")
        after = self.admin_json("--show", "alice", "--secret-file", CENTRAL)
        r.check("--reset alice (not locked): exit 0, says so; her used recovery code and code stay used",
                rc == 0 and "not locked" in out and after["recovery_codes_left"] == RECOVERY - 1
                and after["tokens"] == before["tokens"], "%s %r %s" % (rc, out, after))
        ok, out = self.login("adm-file", "alice", alice.recovery[0])
        r.check("after --reset: alice's used recovery code is still refused", not ok, out)
        rc, out, err = self.admin("--reset", "frank")
        r.check("--reset of an account with no state: exit 1, says why", rc == 1 and "no state" in err,
                "%s %r" % (rc, err))

    # 7 --- the shared store ---------------------------------------------------
    def shared_store(self):
        r, w = self.r, self.w
        pg = self.enr["pguser"]
        step = w.clock.next_step()
        ok, out = self.login("adm-pg", "pguser", pg.code(step), "203.0.113.5", "pts/9")
        r.check("login (store=postgresql): pguser's code", ok, out)
        used_until = (step + 1) * PERIOD
        for i in range(DENY):
            ok, out = self.login("adm-pg", "pguser", pg.wrong_code(step, i), "203.0.113.99", "pts/9")
        r.check("login (store=postgresql): %d wrong codes lock pguser out" % DENY,
                not ok and fleet_world.LOCK_TEXT in out, out)
        locked_at = self.now()
        rows = w.pg.psql("SELECT name FROM pam_totp.states ORDER BY name", db="pam_totp").split()
        r.check("the shared store holds pguser's state alone (the file store's accounts are not in it)",
                rows == ["u-pguser"], rows)

        doc = self.admin_json("--list", "--secret-file", CENTRAL, "--store", "postgresql")
        acc = {a["user"]: a for a in doc["accounts"]}
        ah.check_schema(r, "--list --store postgresql --json", doc)
        p = acc.get("pguser") or {}
        r.check("--list --store postgresql: the document names the store", doc["store"] == "postgresql"
                and doc["store_config"] == "/etc/pam_totp/store.conf" and doc["state_dir"] is None, doc["store"])
        r.check("--list --store postgresql: pguser locked, %d wrong since the success, last login from "
                "203.0.113.5" % DENY,
                p.get("locked") is True and abs(p["locked_until_unix"] - (locked_at + UNLOCK_TIME)) <= 5
                and p["failures_since_success"] == DENY and ah.last(p) == ("adm-pg", "203.0.113.5", "pts/9"), p)
        r.check("--list --store postgresql: pguser's token record read through the store's claims",
                p.get("tokens") and p["tokens"][0]["used_until_unix"] == used_until
                and p["recovery_codes_left"] == RECOVERY, p.get("tokens"))
        r.check("--list --store postgresql: alice's state is in the file store only",
                acc.get("alice", {}).get("state_status") == "none" and acc["alice"]["secret_status"] == "found",
                acc.get("alice"))

        shown = self.admin_json("--show", "pguser", "--secret-file", CENTRAL, "--store", "postgresql")
        r.check("--show pguser --store postgresql (the module's store interface): the same as --list's entry",
                shown == p, (shown, p))
        rc, out, err = self.admin("--show", "pguser", "--secret-file", CENTRAL, "--store", "postgresql")
        r.check("--show pguser --store postgresql (text): the shared store, locked",
                rc == 0 and "the shared store (/etc/pam_totp/store.conf)" in out
                and re.search(r"^Lockout: +until ", out, re.M) is not None
                and "totp-admin --reset pguser" in out, out)

        rc, out, err = self.admin("--reset", "pguser", "--store", "postgresql")
        after = self.admin_json("--show", "pguser", "--secret-file", CENTRAL, "--store", "postgresql")
        r.check("--reset pguser --store postgresql: exit 0, not locked, no wrong codes, the replay record kept",
                rc == 0 and "the lockout ended" in out and after["locked"] is False
                and after["failures_since_success"] == 0 and after["tokens"] == p["tokens"],
                "%s %r %r %s" % (rc, out, err, after))
        ok, out = self.login("adm-pg", "pguser", pg.code(step), "203.0.113.5", "pts/9")
        r.check("after --reset (store=postgresql): the code used before is still refused (replay)",
                not ok and "already used" in out, out)
        step = w.clock.next_step()
        ok, out = self.login("adm-pg", "pguser", pg.code(step), "203.0.113.5", "pts/9")
        r.check("after --reset (store=postgresql): the next code is accepted", ok, out)

        # The store down: said, exit 1, nothing on standard output.
        w.pg.stop()
        try:
            rc, out, err = self.admin("--list", "--secret-file", CENTRAL, "--store", "postgresql")
            r.check("--list --store postgresql with the server down: exit 1, says what to check",
                    rc == 1 and not out and "cannot reach the shared store" in err and "store.conf" in err,
                    "%s %r %r" % (rc, out, err))
        finally:
            w.pg.start()

    # 8 --- usage and privileges ----------------------------------------------
    def usage(self):
        r = self.r
        for args, what in ((["--list", "--homes", "--secret-file", CENTRAL], "names none (~ or %h)"),
                           (["--reset", "alice", "--json"], "--json goes with --list and --show"),
                           (["--list", "--deny", "0"], "--deny must be a whole number from 1 to 100"),
                           (["--list", "--secret-file", "/etc/%x"], "--secret-file /etc/%x"),
                           (["--show"], "unknown option or missing value"),
                           ([], "no command given")):
            rc, out, err = self.admin(*args)
            r.check("usage error %s: exit 2, says %r and --help" % (" ".join(args) or "(none)", what),
                    rc == 2 and what in err and "totp-admin --help" in err and not out, "%s %r" % (rc, err))
        for command in (["--list"], ["--show", "alice"], ["--reset", "alice"]):
            rc, out, err = self.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", self.w.admin]
                                    + command)
            r.check("%s as a user that is not root: exit 1, says it needs root" % command[0],
                    rc == 1 and "needs root" in err and not out, "%s %r" % (rc, err))
        rc, out, err = self.admin("--list", "--secret-file", CENTRAL, "--deny", "3", "--fail-interval", "60",
                                  "--json")
        doc = ah.parse_json(out) if rc == 0 else {"accounts": []}
        c = {a["user"]: a for a in doc["accounts"]}.get("carol", {})
        r.check("--deny and --fail-interval are the counts' limits (as the module's deny= and fail_interval=)",
                c.get("deny") == 3 and c.get("fail_interval") == 60, c)


TESTS = ["enrollments", "logins", "list_file_store", "show", "homes", "reset_file_store", "shared_store", "usage"]


def cannot_run():
    return fleet_world.cannot_run("a mount namespace, users of its own, a PostgreSQL cluster run as postgres",
                                  ("pamtester",))


def main():
    results = Results()
    why = cannot_run()
    if why:
        print("skipped: " + why)
        print(results.summary())
        return 77
    fleet_world.become_subreaper()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    started = time.monotonic()
    if not os.environ.get("TOTP_ENROLL"):
        results.check("setup", False, "TOTP_ENROLL must name the built totp-enroll (make build/results/admin sets it)")
        print(results.summary())
        return 1
    root, pg_dir = fleet_world.run_world_suite(results, lambda: fleet_world.World(prefix="pam_totp-admin."), Suite,
                                               TESTS)
    leftover = fleet_world.descendants()
    results.check("no process left behind", not leftover, "pids %s" % leftover)
    for what, path in (("temporary directory", root), ("cluster directory", pg_dir)):
        if path:
            results.check("%s removed" % what, not os.path.exists(path), path)
    print("# %.1f s" % (time.monotonic() - started))
    print(results.summary())
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
