#!/usr/bin/python3
"""The fleet suite: pam_totp's PostgreSQL store (store=postgresql,
pam_totp(8) FLEET) across two hosts sharing one throwaway cluster.

    PAM_TOTP_MODULE=... PAM_LOGIN=... TOTP_ADMIN=... PGSQL_BACKEND=... \
    TIME_SHIM=... /usr/bin/python3 tests/fleet/run.py      (make build/results/fleet)

Each "host" is a private mount namespace (tests/lib/fleet_ns_host.py) with
its own /var/lib/pam_totp, /etc/pam.d, /etc/pam_totp (store.conf, CA,
secrets) and /dev/log (read here). Host a reaches the store over TCP with
TLS (sslmode=verify-full against a test CA) and SCRAM, host b over the
cluster's Unix socket. The cluster (tests/lib/pg_cluster.py) is started once.
Every login goes through the real module: pam_login (the real libpam,
pam_start_confdir on the host's /etc/pam.d) with the time shim (a fresh
time step without waiting), or a real sshd and ssh client.

Root only (namespaces, sshd, a cluster run as postgres). Exits 0 when all
passed, 1 when anything failed, 77 when it cannot run (not root, no
PostgreSQL server binaries, a tool missing). The last line is
"N passed, M failed". Everything it starts is stopped at the end, also on
failure or Ctrl-C (it is the subreaper of all it starts); the host's /etc
is never changed.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import fleet_world  # noqa: E402
import pg_cluster  # noqa: E402
import state_files  # noqa: E402
from fleet_world import (HOST_ROLE, LOG_ERR, OWNER_ROLE, PAM_AUTH_ERR, PERIOD, module_lines,  # noqa: E402
                         severity)
from suite_run import Results, on_signal  # noqa: E402

TIMEOUT = 3          # store.conf timeout of both hosts (a: written, b: the default)
BOUND = TIMEOUT + 1  # what a login may take when the store hangs (issue 15)
REMOTE_CMD = "echo FLEET-$((6*7))"
REMOTE_OUT = "FLEET-42"
SSH_USER = "flssh"
SSH_PASSWORD = "Fleet-ssh-" + os.urandom(6).hex()
# The same name with another uid on each host: the store keys by name.
SSH_UIDS = {"a": 64901, "b": 64912}
# The host's files this suite must never change. Not /etc/passwd or
# /var/lib/pam_totp as a whole: under `make -j2 check` other suites add
# users and the packaging test installs pam_totp meanwhile; for those the
# check is that none of this suite's names is there (host_untouched).
WATCHED = ["/etc/pam.d/sshd", "/etc/pam.d/other", "/etc/pam_totp"]


def snapshot(path):
    """What a watched path is now: a file's bytes, a directory's listing."""
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def show(lines):
    return "\n    log: " + "\n    log: ".join(lines) if lines else " (no log line)"


def err_lines(lines):
    return [line for line in module_lines(lines) if severity(line) is not None and severity(line) <= LOG_ERR]


def wrong_count(lines):
    """N of the module's "(N of D wrong codes within ...)" in these lines."""
    found = re.findall(r"\((\d+) of \d+ wrong codes", "\n".join(lines))
    return int(found[-1]) if found else None


class Suite:
    def __init__(self, world, results):
        self.w = world
        self.r = results
        self.a = None
        self.b = None
        self.init_output = ""
        self.secrets = []        # never in a log line
        self.codes = set()       # every code and recovery code typed

    # --- helpers ---------------------------------------------------------

    def login(self, host, service, user, answer):
        if answer:
            self.codes.add(answer)
        return host.login(service, user.name, answer)

    def staged(self, host, service, user):
        s = host.staged_login(service, user.name)
        if not s.wait_prompt():
            raise RuntimeError("%s: pam_login ended before the code prompt: %r" % (host.name, s.finish()))
        return s

    # --- set-up ------------------------------------------------------------

    def setup(self):
        w = self.w
        t0 = time.monotonic()
        w.start_store()
        started = time.monotonic() - t0
        users = [(SSH_USER, SSH_PASSWORD, SSH_UIDS["a"])]
        self.a = w.add_host("a", "tcp", timeout=TIMEOUT, system_users=users)
        users = [(SSH_USER, SSH_PASSWORD, SSH_UIDS["b"])]
        self.b = w.add_host("b", "socket", system_users=users)   # no timeout line: the default, 3
        self.secrets += [w.host_password, w.owner_password, SSH_PASSWORD]
        rc, out = w.init_store(self.a)
        self.init_output = out
        if rc != 0 or "GRANT" not in out:
            raise RuntimeError("totp-admin --init-store failed (exit %s):\n%s" % (rc, out))
        w.apply_grants(out)
        self.r.note("cluster up in %.2f s (initdb, TLS, start); hosts and schema in %.2f s"
                    % (started, time.monotonic() - t0))

    def user(self, name, recovery=0):
        u = self.w.add_user(name, recovery)
        self.secrets.append(u.b32)
        self.secrets += u.recovery
        self.secrets += [c.replace("-", "") for c in u.recovery]
        return u

    # 1 --- totp-admin --init-store ------------------------------------------
    def admin_init_store(self):
        r, w = self.r, self.w
        r.check("init-store: first run created the schema (version 1)",
                "now version 1 (created)" in self.init_output, self.init_output)
        r.check("init-store: grants name the role of store.conf's conninfo (%s)" % HOST_ROLE,
                'TO "%s"' % HOST_ROLE in self.init_output, self.init_output)
        before = w.pg.psql("SELECT count(*) FROM pam_totp.states; SELECT value FROM pam_totp.meta", db="pam_totp")
        rc, out = w.init_store(self.b, ["--store-config", "/etc/pam_totp/store.conf"])
        r.check("init-store again (from host b): exit 0, says up to date",
                rc == 0 and "up to date (version 1)" in out, "exit %s: %s" % (rc, out))
        after = w.pg.psql("SELECT count(*) FROM pam_totp.states; SELECT value FROM pam_totp.meta", db="pam_totp")
        r.check("init-store again: schema and data unchanged", before == after, "%r -> %r" % (before, after))
        # The hosts' role cannot create the schema (a database without one).
        w.pg.psql("CREATE DATABASE pam_totp_fresh OWNER %s" % OWNER_ROLE)
        try:
            rc, out = self.b.run([w.admin, "--init-store", "--conninfo",
                                  w.conninfo("tcp", HOST_ROLE).replace("dbname=pam_totp ", "dbname=pam_totp_fresh ")])
            left = w.pg.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'pam_totp'", db="pam_totp_fresh")
            r.check("init-store as the hosts' role on a new database: exit 1, permission denied, nothing made, "
                    "no password shown",
                    rc == 1 and "permission denied" in out and left.strip() == "0" and w.host_password not in out,
                    "exit %s, schemas %s: %s" % (rc, left.strip(), out))
        finally:
            w.pg.psql("DROP DATABASE pam_totp_fresh")

        # Least privilege, checked with psql as the hosts' role.
        w.pg.psql("CREATE TABLE public.other_app (secret text); INSERT INTO public.other_app VALUES ('x')",
                  db="pam_totp", user=OWNER_ROLE)
        denied = {
            "DELETE FROM pam_totp.states": "permission denied",
            "INSERT INTO pam_totp.claims (token_id, holder) VALUES (repeat('a', 32), 'u-x')": "permission denied",
            "INSERT INTO pam_totp.states (name, state) VALUES ('u-x', 'x')": "permission denied",
            "UPDATE pam_totp.states SET state = ''": "permission denied",
            "TRUNCATE pam_totp.claims": "permission denied",
            "DELETE FROM pam_totp.meta": "permission denied",
            "DROP TABLE pam_totp.states": "must be owner",
            "DROP FUNCTION pam_totp.save_state(text, text, boolean)": "must be owner",
            "DROP SCHEMA pam_totp CASCADE": "must be owner",
            "ALTER TABLE pam_totp.claims DROP CONSTRAINT claims_pkey": "must be owner",
            "CREATE TABLE pam_totp.extra (i int)": "permission denied",
            "CREATE OR REPLACE FUNCTION pam_totp.save_state(p_name text, p_state text, p_durable boolean) "
            "RETURNS void LANGUAGE sql AS 'SELECT 1'": "",
            "CREATE TABLE public.extra (i int)": "permission denied",
            "SELECT * FROM public.other_app": "permission denied",
        }
        bad = []
        for sql, why in denied.items():
            p = w.pg.psql_run(sql, db="pam_totp", user=HOST_ROLE)
            if p.returncode == 0 or (why and why not in p.stderr):
                bad.append("%s -> exit %d %s" % (sql, p.returncode, p.stderr.strip()))
        r.check("host role cannot DELETE/INSERT/UPDATE/TRUNCATE the tables, DROP or replace anything, "
                "create tables, or read another application's table (%d statements)" % len(denied),
                not bad, "\n    ".join(bad))
        p = w.pg.psql_run("SELECT count(*) FROM pam_totp.states", db="pam_totp", user=HOST_ROLE)
        r.check("host role can read the states (SELECT granted)", p.returncode == 0, p.stderr)
        w.pg.psql("DROP TABLE public.other_app", db="pam_totp", user=OWNER_ROLE)

    # 2 --- one code, 24 logins on two hosts --------------------------------
    def race(self):
        r, w = self.r, self.w
        u = self.user("flrace")
        w.add_service("race", "deny=100")   # 23 replays a round count as wrong codes
        for rnd in range(1, 4):
            step = w.clock.next_step()
            last_step = step
            code = u.code(step)
            self.codes.add(code)
            logins = [self.staged(self.a if i % 2 == 0 else self.b, "race", u) for i in range(24)]
            t0 = time.monotonic()
            for s in logins:
                s.answer(code)
            results = [s.finish() for s in logins]
            spread = time.monotonic() - t0
            won = [("a" if i % 2 == 0 else "b") for i, res in enumerate(results) if res.ok]
            replays = sum(1 for res in results if not res.ok and "already used" in res.output
                          and res.result == PAM_AUTH_ERR)
            other = [res for res in results if not res.ok and not ("already used" in res.output)]
            r.check("round %d: 24 parallel logins (12 on a over TLS, 12 on b over the socket) with one code: "
                    "exactly 1 succeeds" % rnd, len(won) == 1,
                    "%d succeeded (%s); others: %s" % (len(won), won, other[:3]))
            r.check("round %d: the other 23 are refused as already used" % rnd, replays == 23,
                    "%d replays; other outcomes: %s" % (replays, other[:3]))
            r.note("round %d: winner on host %s; all 24 answered and settled in %.2f s"
                   % (rnd, won[0] if won else "-", spread))
        row = state_files.parse_text(w.state_row("u-flrace"))
        tokens = list(row["tokens"].values())
        r.check("store: the account's token is used to the end of the last round's step",
                len(tokens) == 1 and tokens[0]["used_until"] >= (last_step + 1) * PERIOD, str(row))

    # 3 --- the guessing budget is the fleet's --------------------------------
    def lockout(self):
        r, w = self.r, self.w
        u = self.user("fllock")
        w.add_service("lock10", "deny=10")
        step = w.clock.next_step()
        logins = [(self.staged(self.a if i % 2 == 0 else self.b, "lock10", u), u.wrong_code(step, i))
                  for i in range(10)]
        for s, code in logins:
            self.codes.add(code)
            s.answer(code)
        results = [s.finish() for s, _ in logins]
        r.check("10 parallel wrong codes (5 on a, 5 on b), deny=10: all refused, none unavailable",
                all(res.exit == 1 and res.result == PAM_AUTH_ERR for res in results),
                [res for res in results if res.result != PAM_AUTH_ERR][:3])
        row = state_files.parse_text(w.state_row("u-fllock"))
        r.check("store: all 10 counted (10 since the last success), code entry locked",
                row["since_success"] == 10 and row["lockouts"] == 1 and row["locked_until"] > w.clock.now(),
                str(row))
        step = w.clock.step()
        for host in (self.a, self.b):
            mark = host.log.mark()
            res = self.login(host, "lock10", u, u.code(step))
            lines = host.log.since(mark)
            r.check("host %s: the right code is refused, code entry locked (5 wrong codes on each host "
                    "would not lock either alone)" % host.name,
                    not res.ok and res.locked and any("locked" in l for l in module_lines(lines)),
                    "%r%s" % (res, show(lines)))

    # 4 --- replay and recovery codes across hosts ----------------------------
    def replay(self):
        r, w = self.r, self.w
        u = self.user("flreplay")
        w.add_service("totp")
        for first, second in ((self.a, self.b), (self.b, self.a)):
            code = u.code(w.clock.next_step())
            res1 = self.login(first, "totp", u, code)
            mark = second.log.mark()
            res2 = self.login(second, "totp", u, code)
            lines = second.log.since(mark)
            r.check("code used on %s: accepted there" % first.name, res1.ok, res1)
            r.check("same code on %s: refused as already used (the module says so and logs it)" % second.name,
                    not res2.ok and res2.result == PAM_AUTH_ERR and "already used" in res2.output
                    and any("already used" in l for l in lines), "%r%s" % (res2, show(lines)))

    def recovery(self):
        r, w = self.r, self.w
        u = self.user("flrecov", recovery=2)
        w.add_service("totp")
        for i, (first, second) in enumerate(((self.a, self.b), (self.b, self.a))):
            rc = u.recovery[i]
            res1 = self.login(first, "totp", u, rc)
            mark = second.log.mark()
            res2 = self.login(second, "totp", u, rc.lower())
            lines = module_lines(second.log.since(mark))
            r.check("recovery code %d used on %s: accepted" % (i + 1, first.name), res1.ok, res1)
            r.check("recovery code %d on %s (typed in lower case): refused" % (i + 1, second.name),
                    not res2.ok and res2.result == PAM_AUTH_ERR, "%r%s" % (res2, show(lines)))
        row = state_files.parse_text(w.state_row("u-flrecov"))
        used = [e for t in row["tokens"].values() for e in t.get("recovery_used", [])]
        r.check("store: both recovery codes recorded as used", len(used) == 2, str(row))

    # 5 --- real sshd on two hosts --------------------------------------------
    def ssh(self):
        r, w = self.r, self.w
        u = self.user(SSH_USER)
        askpass = os.path.join(w.root, "askpass")
        with open(askpass, "w") as f:
            f.write('#!/bin/sh\ncase "$1" in\n*assword*) printf "%s\\n" "$FLEET_PASSWORD" ;;\n'
                    '*erification*) printf "%s\\n" "$FLEET_CODE" ;;\n*) exit 1 ;;\nesac\n')
        os.chmod(askpass, 0o755)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(w.root, "host_key")],
                       check=True)
        ports = {}
        for host in (self.a, self.b):
            host.write_service("sshd", "auth requisite pam_unix.so nodelay\n" + w.service_line() +
                               "account required pam_unix.so\nsession required pam_unix.so\n"
                               "password required pam_deny.so\n")
            ports[host.name], slog = start_sshd(w, host, askpass)
            host.sshd_log = slog

        def ssh(host, code):
            self.codes.add(code)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
            env.update(SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force", DISPLAY=":fleet",
                       FLEET_PASSWORD=SSH_PASSWORD, FLEET_CODE=code)
            argv = ["setpriv", "--pdeathsig", "KILL", "ssh", "-F", "/dev/null", "-T",
                    "-o", "BatchMode=no", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "GlobalKnownHostsFile=/dev/null", "-o", "UpdateHostKeys=no", "-o", "LogLevel=ERROR",
                    "-o", "ConnectTimeout=10", "-o", "NumberOfPasswordPrompts=1", "-o", "ControlPath=none",
                    "-o", "PreferredAuthentications=keyboard-interactive", "-o", "PubkeyAuthentication=no",
                    "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=yes",
                    "-p", str(ports[host.name]), "%s@127.0.0.1" % SSH_USER, REMOTE_CMD]
            p = w.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True, env=env)
            try:
                out, _ = p.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            return p.returncode, out

        # sshd runs on the real clock (no time shim): this user logs in only here.
        step = int(time.time()) // PERIOD
        code = u.code(step)
        rc, out = ssh(self.a, code)
        r.check("ssh to host a (password + code): logged in, command ran",
                rc == 0 and REMOTE_OUT in out, "exit %s %r%s" % (rc, out, show(self.a.log.since(0)[-5:])))
        mark = self.b.log.mark()
        rc, out = ssh(self.b, code)
        lines = self.b.log.since(mark)
        r.check("ssh to host b with the same code: refused, logged as already used",
                rc != 0 and REMOTE_OUT not in out and any("already used" in l for l in lines),
                "exit %s %r%s" % (rc, out, show(lines)))
        rc, out = ssh(self.b, u.code(step + 1))
        r.check("ssh to host b with the next code: logged in (b works, the code was the reason)",
                rc == 0 and REMOTE_OUT in out, "exit %s %r" % (rc, out))
        row = state_files.parse_text(w.state_row("u-" + SSH_USER))
        r.check("store: one state for %s although its uid differs between the hosts (%d, %d)"
                % (SSH_USER, SSH_UIDS["a"], SSH_UIDS["b"]),
                row["account"] == SSH_USER and row.get("last_login_items", {}).get("service") == "sshd", str(row))

    # 6 --- totp-admin --migrate-to-store -------------------------------------
    def migrate(self):
        r, w, a, b = self.r, self.w, self.a, self.b
        u = self.user("flmig", recovery=2)
        a.write_service("mig-file", "auth required %s secret=/etc/pam_totp/secrets/%%u deny=5\n" % w.module)
        w.add_service("mig-pg", "deny=5")
        code = u.code(w.clock.next_step())
        ok1 = self.login(a, "mig-file", u, code)
        ok2 = self.login(a, "mig-file", u, u.recovery[0])
        wrong = []
        for i in range(2):
            w.clock.advance(1)   # two failures, at two different seconds
            wrong.append(self.login(a, "mig-file", u, u.wrong_code(w.clock.step(), i)))
        state_dir = a.path("state")
        local = state_files.account_state(state_dir, "flmig")
        r.check("file store on host a: a code, a recovery code used, 2 failures (before migrating)",
                ok1.ok and ok2.ok and all(x.result == PAM_AUTH_ERR for x in wrong)
                and local is not None and len(local["failures"]) == 2,
                "%r %r %r %s" % (ok1, ok2, wrong, local))
        r.check("store has no state for flmig yet", w.state_row("u-flmig") is None)
        rc, out = a.run([w.admin, "--migrate-to-store"])
        r.check("totp-admin --migrate-to-store (defaults: /var/lib/pam_totp, /etc/pam_totp/store.conf): exit 0",
                rc == 0 and "Copied" in out, "exit %s: %s" % (rc, out))
        row1 = w.state_row("u-flmig")
        rc, out = a.run([w.admin, "--migrate-to-store"])
        row2 = w.state_row("u-flmig")
        r.check("migrating again: exit 0, the store's state unchanged (nothing counted twice)",
                rc == 0 and row1 is not None and row1 == row2, "exit %s: %s\n%s\n%s" % (rc, out, row1, row2))

        # Host a and host b now on the store: what a used stays used.
        mark = b.log.mark()
        res = self.login(b, "mig-pg", u, code)
        lines = b.log.since(mark)
        r.check("on the store, host b: the code used on a's files is refused as already used",
                not res.ok and "already used" in res.output, "%r%s" % (res, show(lines)))
        r.check("...and the 2 failures from a's files count: it is wrong code 3 of 5",
                wrong_count(lines) == 3, show(lines))
        res = self.login(b, "mig-pg", u, u.recovery[0])
        r.check("on the store, host b: the recovery code used on a's files is refused",
                not res.ok and res.result == PAM_AUTH_ERR, res)
        res = self.login(a, "mig-pg", u, u.recovery[0])
        r.check("on the store, host a: that recovery code is refused too", not res.ok, res)
        res = self.login(b, "mig-pg", u, u.code(w.clock.step()))
        r.check("5 wrong in all (2 migrated + 3 refused on the store): the right code is refused, locked",
                not res.ok and res.locked, res)

    # 7 --- store.conf and backend that must not be used ----------------------
    def refused_config(self):
        r, w, a = self.r, self.w, self.a
        u = self.user("flconf")
        conninfo = w.conninfo("tcp")
        dir_user = a.etc("userdir")
        os.makedirs(dir_user, 0o755)
        os.chown(dir_user, 65534, 65534)
        os.symlink(w.backend, a.etc("link.so"))
        for name, mode, owner in (("gw.so", 0o664, (0, 0)), ("ww.so", 0o646, (0, 0)), ("user.so", 0o644, (65534, 0))):
            shutil.copyfile(w.backend, a.etc(name))
            os.chown(a.etc(name), *owner)
            os.chmod(a.etc(name), mode)
        cases = [
            # (name, store.conf path in host a, the reason the log must give)
            ("store.conf mode 0640", a.write_store_conf(conninfo, name="c0640.conf", mode=0o640), "mode 0640"),
            ("store.conf mode 0604", a.write_store_conf(conninfo, name="c0604.conf", mode=0o604), "mode 0604"),
            ("store.conf owned by a user", a.write_store_conf(conninfo, name="cuser.conf", owner=(65534, 65534)),
             "owned by uid 65534"),
            ("store.conf in a directory a user owns",
             a.write_store_conf(conninfo, name="userdir/store.conf"), "userdir"),
            ("store.conf with an unknown key (holding a password)",
             a.write_private("ckey.conf", "conninfo %s\nconninfo_extra password=%s\n"
                             % (conninfo, w.host_password)), "unknown key"),
            ("store.conf timeout 0", a.write_private("ct0.conf", "conninfo %s\ntimeout 0\n" % conninfo), "timeout"),
            ("backend a symbolic link", a.write_store_conf(conninfo, name="bl.conf", backend="/etc/pam_totp/link.so"),
             "symbolic link"),
            ("backend group-writable (0664)",
             a.write_store_conf(conninfo, name="bg.conf", backend="/etc/pam_totp/gw.so"), "mode 0664"),
            ("backend world-writable (0646)",
             a.write_store_conf(conninfo, name="bw.conf", backend="/etc/pam_totp/ww.so"), "mode 0646"),
            ("backend owned by a user", a.write_store_conf(conninfo, name="bu.conf", backend="/etc/pam_totp/user.so"),
             "owned by uid 65534"),
            ("backend missing", a.write_store_conf(conninfo, name="bm.conf", backend="/etc/pam_totp/none.so"),
             "none.so"),
        ]
        for i, (title, conf, reason) in enumerate(cases):
            service = "conf%d" % i
            a.write_service(service, w.service_line("store_config=" + conf))
            mark = a.log.mark()
            res = self.login(a, service, u, u.code(w.clock.next_step()))
            errs = err_lines(a.log.since(mark))
            r.check("%s: PAM_AUTHINFO_UNAVAIL, no prompt, a LOG_ERR line saying why" % title,
                    res.unavailable and not res.prompted and any(reason in l for l in errs),
                    "%r%s" % (res, show(errs)))
        # The control: the same settings from a file that is right work.
        conf = a.write_store_conf(conninfo, name="good.conf", backend="/etc/pam_totp/good.so")
        shutil.copyfile(w.backend, a.etc("good.so"))
        os.chmod(a.etc("good.so"), 0o644)
        a.write_service("conf-good", w.service_line("store_config=" + conf))
        res = self.login(a, "conf-good", u, u.code(w.clock.next_step()))
        r.check("control: the same conninfo and backend, root's 0600 / 0644: logged in", res.ok, res)

    # 8 --- a wrong password in conninfo ---------------------------------------
    def wrong_password(self):
        r, w, a = self.r, self.w, self.a
        u = self.user("flpw")
        wrong = "Wr0ng-" + os.urandom(6).hex()
        self.secrets.append(wrong)
        uri = ("postgresql://%s:%s@localhost:%d/pam_totp?hostaddr=127.0.0.1&sslmode=verify-full"
               "&sslrootcert=/etc/pam_totp/ca.crt" % (HOST_ROLE, wrong, w.pg.port))
        for form, conninfo in (("key=value", w.conninfo("tcp", password=wrong)), ("URI", uri)):
            conf = a.write_store_conf(conninfo, name="wrongpw-%s.conf" % form.replace("=", ""))
            service = "wrongpw-" + form.replace("=", "").lower()   # libpam lower-cases service names
            a.write_service(service, w.service_line("store_config=" + conf))
            mark = a.log.mark()
            res = self.login(a, service, u, u.code(w.clock.next_step()))
            lines = a.log.since(mark)
            errs = err_lines(lines)
            r.check("wrong password (%s conninfo): PAM_AUTHINFO_UNAVAIL" % form, res.unavailable, res)
            r.check("wrong password (%s conninfo): LOG_ERR says password authentication failed" % form,
                    any("password authentication failed" in l for l in errs), show(lines))
            r.check("wrong password (%s conninfo): the password is in no log line and not shown" % form,
                    not any(wrong in l for l in lines) and wrong not in res.output, "(not shown)")

    # 9 --- several hosts in conninfo -------------------------------------------
    def multi_host(self):
        r, w, a = self.r, self.w, self.a
        u = self.user("flmulti")
        bad = pg_cluster.free_port(30000)
        conninfo = ("host=localhost,localhost hostaddr=127.0.0.1,127.0.0.1 port=%d,%d dbname=pam_totp user=%s "
                    "password=%s sslmode=verify-full sslrootcert=/etc/pam_totp/ca.crt "
                    "target_session_attrs=read-write" % (bad, w.pg.port, HOST_ROLE, w.host_password))
        conf = a.write_store_conf(conninfo, TIMEOUT, name="multi.conf")
        a.write_service("multi", w.service_line("store_config=" + conf))
        res = self.login(a, "multi", u, u.code(w.clock.next_step()))
        r.check("conninfo host=127.0.0.1,127.0.0.1 port=%d (closed),%d target_session_attrs=read-write: "
                "finds the server, logged in" % (bad, w.pg.port), res.ok, res)

        # The first host accepts TCP and never answers (a hung or
        # black-holed primary): it gets its share of the time (half of the
        # timeout here), the second host the rest. libpq's connect_timeout
        # does not apply to the module's non-blocking connect: the module
        # tries the hosts one by one itself.
        hung = [socket.socket(), socket.socket()]
        try:
            for h in hung:
                h.bind(("127.0.0.1", 0))
                h.listen(8)
            ports = [h.getsockname()[1] for h in hung]
            one_hung = conninfo.replace("port=%d," % bad, "port=%d," % ports[0])
            conf = a.write_store_conf(one_hung, TIMEOUT, name="multi-hung.conf")
            a.write_service("multi-hung", w.service_line("store_config=" + conf))
            res = self.login(a, "multi-hung", u, u.code(w.clock.next_step()))
            r.check("conninfo host=HUNG,GOOD (the first accepts TCP and never answers) target_session_attrs="
                    "read-write, TLS verify-full, SCRAM: logged in within timeout + 1 s = %d s (took %.2f s)"
                    % (BOUND, res.elapsed), res.ok and res.elapsed <= BOUND, res)
            r.note("HUNG,GOOD failover: logged in after %.2f s" % res.elapsed)
            both_hung = conninfo.replace("port=%d,%d" % (bad, w.pg.port), "port=%d,%d" % tuple(ports))
            conf = a.write_store_conf(both_hung, TIMEOUT, name="multi-hung2.conf")
            a.write_service("multi-hung2", w.service_line("store_config=" + conf))
            mark = a.log.mark()
            res = self.login(a, "multi-hung2", u, u.code(w.clock.next_step()))
            errs = err_lines(a.log.since(mark))
            r.check("conninfo host=HUNG,HUNG: PAM_AUTHINFO_UNAVAIL within timeout + 1 s (took %.2f s), no prompt, "
                    "one LOG_ERR line naming both hosts" % res.elapsed,
                    res.unavailable and res.elapsed <= BOUND and not res.prompted
                    and any(all("port %d" % p in l for p in ports) for l in errs), "%r%s" % (res, show(errs)))
            if errs:
                r.note("logged: " + re.sub(r"^.*?pam_totp", "pam_totp", errs[0])[:400])
        finally:
            for h in hung:
                h.close()

    # 10 --- a read-only primary ---------------------------------------------------
    def read_only(self):
        r, w = self.r, self.w
        u = self.user("flro")
        w.add_service("totp")
        conf = self.a.write_store_conf(w.conninfo("tcp", extra="target_session_attrs=read-write"), TIMEOUT,
                                       name="rw.conf")
        self.a.write_service("rw", w.service_line("store_config=" + conf))
        set_read_only(w.pg, True)
        try:
            for host, service in ((self.a, "totp"), (self.b, "totp"), (self.a, "rw")):
                mark = host.log.mark()
                res = self.login(host, service, u, u.code(w.clock.next_step()))
                errs = err_lines(host.log.since(mark))
                what = "read-only" if service == "totp" else "read-only with target_session_attrs=read-write"
                r.check("%s server, host %s: PAM_AUTHINFO_UNAVAIL and a LOG_ERR line" % (what, host.name),
                        res.unavailable and errs, "%r%s" % (res, show(errs)))
        finally:
            set_read_only(w.pg, False)
        res = self.login(self.b, "totp", u, u.code(w.clock.next_step()))
        r.check("read-write again: the next login works", res.ok, res)

    # 11 --- the postmaster killed during a login ------------------------------------
    def crash(self):
        r, w, a, b = self.r, self.w, self.a, self.b
        u = self.user("flcrash")
        # window=3: the code used first is still inside the window when it is
        # replayed after the restart, two or three steps later, so that the
        # module can tell "already used" from "wrong" whatever second of its
        # step the suite started in.
        w.add_service("crash", "deny=10 window=3")
        used = u.code(w.clock.next_step())
        res = self.login(a, "crash", u, used)
        r.check("before the crash: a code accepted on a", res.ok, res)
        for i in range(2):
            w.clock.advance(1)
            res = self.login(b, "crash", u, u.wrong_code(w.clock.step(), i))
        r.check("before the crash: 2 wrong codes on b", res.result == PAM_AUTH_ERR, res)
        staged = self.staged(a, "crash", u)
        mark = a.log.mark()
        w.pg.crash()              # SIGKILL to the postmaster; its processes follow it
        code = u.code(w.clock.next_step())
        self.codes.add(code)
        staged.answer(code)
        res = staged.finish()
        errs = err_lines(a.log.since(mark))
        r.check("postmaster SIGKILLed while a login waits at the prompt: that login gets "
                "PAM_AUTHINFO_UNAVAIL, with a LOG_ERR line", res.unavailable and errs, "%r%s" % (res, show(errs)))
        r.note("crashed-store login denied %.3f s after the answer" % res.after_answer)
        t0 = time.monotonic()
        w.pg.start()
        r.note("cluster restarted (crash recovery) in %.2f s" % (time.monotonic() - t0))
        mark = b.log.mark()
        res = self.login(b, "crash", u, used)
        lines = b.log.since(mark)
        r.check("after the restart: the code used before the crash is refused as already used",
                not res.ok and "already used" in res.output, "%r%s" % (res, show(lines)))
        count = wrong_count(lines)
        r.check("after the restart: the 2 earlier wrong codes are still counted (the replay is wrong code 3)",
                count == 3, show(lines))
        # A settle is written with synchronous_commit off: the crash may
        # lose the last one. Its durable charge then counts the wrong code
        # all the same, and blocks every step of that answer's window
        # (strict): the next fresh code is taken after that window.
        cut_short = any("cut short" in l for l in lines)
        r.note("after the restart: %s" % ("the crash lost the last relaxed settle; its durable charge was "
                                         "counted instead" if cut_short else "every settle had survived the crash"))
        w.clock.advance(4 * PERIOD)
        res = self.login(a, "crash", u, u.code(w.clock.step()))
        r.check("after the restart: the next login with a fresh code works", res.ok, res)

    # 12 --- a hung server: the login is denied within the budget --------------------
    def hung_postmaster(self):
        r, w = self.r, self.w
        u = self.user("flstop")
        w.add_service("totp")
        step = w.clock.next_step()
        results = {}
        w.pg.signal("SIGSTOP")
        try:
            def one(host):
                results[host.name] = self.login(host, "totp", u, u.code(step))
            threads = [threading.Thread(target=one, args=(h,)) for h in (self.a, self.b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        finally:
            w.pg.signal("SIGCONT")
        for host in (self.a, self.b):
            res = results.get(host.name)
            errs = err_lines(host.log.since(0)[-5:])
            r.check("postmaster SIGSTOPped, host %s (%s, store.conf timeout %d): PAM_AUTHINFO_UNAVAIL "
                    "and a LOG_ERR line" % (host.name, host.kind, TIMEOUT),
                    res is not None and res.unavailable and any("PostgreSQL" in l for l in errs),
                    "%r%s" % (res, show(errs)))
            r.check("postmaster SIGSTOPped, host %s: denied within timeout + 1 s = %d s (took %.2f s)"
                    % (host.name, BOUND, res.elapsed if res else -1),
                    res is not None and res.elapsed <= BOUND, res)
            # The state cannot be read before the prompt: the user is not
            # asked for a code that could not be checked either.
            r.check("postmaster SIGSTOPped, host %s: denied before the prompt (no code asked), the LOG_ERR line "
                    "says so" % host.name,
                    res is not None and not res.prompted and any("before the prompt" in l for l in errs),
                    "%r%s" % (res, show(errs)))
            if res is not None:
                r.note("postmaster SIGSTOPped, host %s: denied after %.2f s" % (host.name, res.elapsed))
            if errs:
                r.note("logged: " + re.sub(r"^.*?pam_totp", "pam_totp", errs[-1])[:400])
        res = self.login(self.a, "totp", u, u.code(w.clock.next_step()))
        r.check("SIGCONT: the next login works", res.ok, res)

    def hung_backend(self):
        """No server session is held while a login waits for the user: the
        look before the prompt closes its connection, so unanswered prompts
        (anyone who reaches sshd can leave 100 per host open for two
        minutes) cannot fill max_connections and deny every host's logins.
        The login still works after the answer, on a new connection."""
        r, w = self.r, self.w
        u = self.user("flhang")
        w.add_service("totp")
        staged = self.staged(self.a, "totp", u)
        pids = w.pg.psql("SELECT pid FROM pg_stat_activity WHERE usename = '%s' AND pid <> pg_backend_pid()"
                         % HOST_ROLE).split()
        r.check("no session of the hosts' role open while the login waits at the prompt", not pids, pids)
        code = u.code(w.clock.next_step())
        self.codes.add(code)
        staged.answer(code)
        res = staged.finish()
        r.check("after the prompt: the answer is checked on a new connection and accepted", res.ok, res)

    def hung_write(self):
        """The charge's durable write cannot finish (an administrator's
        transaction holds the account's row): the write's outcome is
        unknown to the module, which denies within the budget."""
        r, w, b = self.r, self.w, self.b
        u = self.user("flrow")
        w.add_service("totp")
        res = self.login(b, "totp", u, u.code(w.clock.next_step()))
        r.check("a first login makes the account's row", res.ok, res)
        pg = w.pg
        holder = w.popen(["runuser", "-u", "postgres", "--", os.path.join(pg.bindir, "psql"), "-h", pg.dir,
                          "-p", str(pg.port), "-d", "pam_totp", "-q", "-At"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        try:
            holder.stdin.write("BEGIN;\nSELECT 1 FROM pam_totp.states WHERE name = 'u-flrow' FOR UPDATE;\n")
            holder.stdin.flush()
            deadline = time.monotonic() + 10
            while "1" not in pg.psql("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                                     "AND query LIKE '%FOR UPDATE%'"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the row lock was not taken")
                time.sleep(0.02)
            mark = b.log.mark()
            res = self.login(b, "totp", u, u.code(w.clock.next_step()))
            errs = err_lines(b.log.since(mark))
        finally:
            holder.stdin.write("ROLLBACK;\n")
            holder.stdin.close()
            holder.stdin = None
            holder.wait(10)
        r.check("the account's row locked by another transaction: the durable write times out, "
                "PAM_AUTHINFO_UNAVAIL and a LOG_ERR line", res.unavailable and errs, "%r%s" % (res, show(errs)))
        r.check("the account's row locked: denied within timeout + 1 s (took %.2f s)" % res.elapsed,
                res.elapsed <= BOUND, res)
        if errs:
            r.note("logged: " + re.sub(r"^.*?pam_totp", "pam_totp", errs[0]).replace("\n", " | ")[:300])
        # Had the charge landed after all (the ROLLBACK came before the
        # server's lock_timeout), the next login settles it strictly: it
        # blocks that answer's window. The fresh code comes after it.
        w.clock.advance(3 * PERIOD)
        res = self.login(b, "totp", u, u.code(w.clock.step()))
        r.check("the row free again: the next login works", res.ok, res)

    def slow_writes(self):
        """Every write of a state takes 2.5 s (a trigger), within the 3 s
        timeout each: the timeout bounds the store work after the answer
        as a whole, not each statement (two writes would take 5 s)."""
        r, w, a = self.r, self.w, self.a
        u = self.user("flslow")
        w.add_service("totp")
        w.pg.psql("CREATE FUNCTION public.fleet_slow() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$BEGIN PERFORM pg_sleep(2.5); RETURN NEW; END$$; "
                  "CREATE TRIGGER fleet_slow BEFORE INSERT OR UPDATE ON pam_totp.states "
                  "FOR EACH ROW EXECUTE FUNCTION public.fleet_slow()", db="pam_totp")
        try:
            staged = self.staged(a, "totp", u)
            mark = a.log.mark()
            code = u.code(w.clock.next_step())
            self.codes.add(code)
            staged.answer(code)
            res = staged.finish()
            lines = module_lines(a.log.since(mark))
        finally:
            # Waits for a write still running on the server.
            w.pg.psql("DROP TRIGGER fleet_slow ON pam_totp.states; DROP FUNCTION public.fleet_slow()",
                      db="pam_totp")
        # The charge (durable) commits in 2.5 s; the settling has 0.5 s
        # left, is given up, and stays charged: the login still succeeds
        # (the code was checked and its use recorded), a warning says so.
        r.check("writes taking 2.5 s each, timeout %d: the login ends within timeout + 1 s of the answer "
                "(took %.2f s; two writes of 2.5 s would be 5 s)" % (TIMEOUT, res.after_answer),
                res.after_answer <= BOUND, "%r%s" % (res, show(lines)))
        r.check("writes taking 2.5 s each: the charge committed in time, the code is accepted, the settling "
                "given up is logged", res.ok and any("cannot settle" in l for l in lines), "%r%s" % (res, show(lines)))
        r.note("2.5 s writes: answered %.2f s after the code was typed" % res.after_answer)
        w.clock.advance(3 * PERIOD)
        res = self.login(a, "totp", u, u.code(w.clock.step()))
        r.check("writes fast again: the next login works", res.ok, res)

    # 13 --- what the logs never hold ---------------------------------------------------
    def log_hygiene(self):
        r = self.r
        lines = [l for h in (self.a, self.b) for l in h.log.since(0)]
        r.check("the hosts logged through their /dev/log (%d lines)" % len(lines), len(module_lines(lines)) > 50)
        leaks = []
        for line in lines:
            text = re.sub(r"\[\d+\]", "", line)
            text = re.sub(r"\(\d+ of \d+ wrong codes[^)]*\)|\d+ ms|\d+ (more )?seconds|port \d+", "", text)
            for word in self.secrets:
                if word and word in text:
                    leaks.append(line)
            for code in self.codes:
                if re.search(r"(?<![0-9A-Za-z])%s(?![0-9A-Za-z])" % re.escape(code), text, re.IGNORECASE):
                    leaks.append(line)
        r.check("no password, secret, code or recovery code in any log line", not leaks,
                "%d lines (not shown: they hold a secret)" % len(leaks))
        # libpq's messages run over several lines; each module message is
        # one (a trailing newline aside), and an empty libpq message leaves
        # no dangling ": " behind.
        broken = [l for l in module_lines(lines)
                  if re.search(r"[\x00-\x1f\x7f]", l.rstrip("\n")) or re.search(r":\s*(;|$)", l.rstrip("\n"))]
        r.check("every module log line is one line (no newline or control character inside), none ends a "
                "message with an empty \": \"", not broken, "\n    ".join(repr(l) for l in broken[:5]))


# --- sshd ------------------------------------------------------------------------

def start_sshd(world, host, askpass):
    """sshd -D in HOST on a free loopback port; (port, its log file)."""
    for attempt in range(3):
        port = pg_cluster.free_port(31000 + attempt * 300)
        config = os.path.join(host.dir, "sshd_config-%d" % attempt)
        with open(config, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile none\nUsePAM yes\n"
                    "KbdInteractiveAuthentication yes\nPasswordAuthentication no\nPubkeyAuthentication no\n"
                    "AuthenticationMethods keyboard-interactive\nPermitRootLogin no\nAllowUsers %s\n"
                    "UseDNS no\nPrintMotd no\nPrintLastLog no\nX11Forwarding no\nAllowTcpForwarding no\n"
                    "PermitTTY no\nLoginGraceTime 60\nLogLevel VERBOSE\n"
                    % (port, os.path.join(world.root, "host_key"), SSH_USER))
        log_path = os.path.join(host.dir, "sshd-%d.log" % attempt)
        log = open(log_path, "w+")
        world.popen(["setpriv", "--pdeathsig", "KILL"] + host.command(["/usr/sbin/sshd", "-D", "-e", "-f", config]),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            log.seek(0)
            text = log.read()
            if "Server listening on" in text:
                return port, log
            if "Address already in use" in text or "Bind to port" in text:
                break
            time.sleep(0.05)
        log.seek(0)
        text = log.read()
        log.close()
        if "already in use" not in text and "Bind to port" not in text:
            raise RuntimeError("sshd on host %s did not start:\n%s" % (host.name, text))
    raise RuntimeError("sshd on host %s: no free port after 3 tries" % host.name)


def set_read_only(pg, on):
    """default_transaction_read_only for every new session, as a primary
    demoted to read-only would be; waits until a new session sees it."""
    if on:
        pg.psql("ALTER SYSTEM SET default_transaction_read_only = on")
    else:
        pg.psql("ALTER SYSTEM RESET default_transaction_read_only")
    pg.psql("SELECT pg_reload_conf()")
    want = "on" if on else "off"
    deadline = time.monotonic() + 10
    while pg.psql("SHOW default_transaction_read_only").strip() != want:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not reload its configuration")
        time.sleep(0.02)


def host_untouched():
    with open("/etc/passwd") as f:
        if any(line.startswith(SSH_USER + ":") for line in f):
            return False
    try:
        return not any(name.startswith("u-fl") for name in os.listdir("/var/lib/pam_totp"))
    except OSError:
        return True


TESTS = ["admin_init_store", "race", "lockout", "replay", "recovery", "ssh", "migrate", "refused_config",
         "wrong_password", "multi_host", "read_only", "crash", "hung_backend", "hung_write", "slow_writes",
         "hung_postmaster", "log_hygiene"]


def cannot_run():
    return fleet_world.cannot_run("mount namespaces, sshd, a PostgreSQL cluster run as postgres",
                                  ("ssh", "ssh-keygen", "/usr/sbin/sshd"))


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
    before = {p: snapshot(p) for p in WATCHED}
    started = time.monotonic()
    root, pg_dir = fleet_world.run_world_suite(results, fleet_world.World, Suite, TESTS)
    changed = [p for p in WATCHED if snapshot(p) != before[p]]
    results.check("host unchanged: %s" % ", ".join(WATCHED), not changed, "changed: " + " ".join(changed))
    results.check("host untouched: no user %s in /etc/passwd, no u-fl* state in /var/lib/pam_totp" % SSH_USER,
                  host_untouched(), "")
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
