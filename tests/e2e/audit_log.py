"""The audit lines of pam_totp(8), LOGGING, and the fail2ban filter that
reads them (packaging/fail2ban/pam_totp.conf), through the real sshd of
run.py.

Every login ends with one line

    pam_totp(SERVICE:auth): outcome=... user=... service=... rhost=... tty=... token=...[ failures=N deny=N]

fields() reads it. The test fail2ban_filter runs fail2ban-regex (the one
scripts/install-deps installs) over every line the module wrote during the
whole run (run.py's syslog catcher holds them; this test runs last), written
as a syslog file "Mon DD HH:MM:SS host prog[pid]: message" (and once more
without the pid, as they were caught), and asserts that the filter matches
exactly the wrong, replayed and locked lines that have a remote host, each
with that host, and nothing else: no accepted, recovery or grace line, no
failure without a remote host (the console login). The filter is used as
shipped: fail2ban-regex reads `before = common.conf` beside the filter, so
both are copied into a directory of their own.

A client chooses its user name: a login as "x rhost=203.0.113.9" must not
get 203.0.113.9 banned. The module refuses such a name (pam_totp(8),
secret=: user names with spaces are refused), so the attempt ends in an
unknown_user line with an empty user; what sshd itself said about the name goes into the
file too, and the filter must match neither.

Run by run.py (ALL_TESTS); standard library only.
"""

import collections
import os
import re
import shutil
import subprocess

ALL_TESTS = ["fail2ban_filter"]

FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "packaging", "fail2ban", "pam_totp.conf")
COMMON_CONF = "/etc/fail2ban/filter.d/common.conf"
BANNED = ("wrong", "replayed", "locked")     # what the filter bans on (pam_totp(8))
NEVER_BANNED = ("accepted", "recovery", "grace")
INJECTED_HOST = "203.0.113.9"                # TEST-NET-3 (RFC 5737)
INJECTED_USER = "x rhost=" + INJECTED_HOST
FIELD_ORDER = ["outcome", "user", "service", "rhost", "tty", "token"]

AUDIT_RE = re.compile(r"pam_totp\((?P<where>[^()\s]*)\): (?P<fields>outcome=.*?)\s*$")
# A datagram as glibc's syslog(3) sends it to /dev/log: "<PRI>DATE TAG[PID]: MESSAGE".
DATAGRAM_RE = re.compile(r"^<\d+>(?P<date>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) "
                         r"(?P<rest>[^\s\[:]+(?:\[\d+\])?: .*?)\s*$", re.S)


def fields(line):
    """The key=value fields of an audit line as a dict (in order), None for
    any other line. Raises ValueError for an audit line whose fields are
    not the documented ones in the documented order."""
    m = AUDIT_RE.search(line)
    if not m:
        return None
    out = collections.OrderedDict()
    for word in m.group("fields").split(" "):
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError("audit line field without '=': %r" % line)
        out[key] = value
    keys = list(out)
    if keys[:6] != FIELD_ORDER or keys[6:] not in ([], ["failures", "deny"]):
        raise ValueError("audit line fields are not %s[ failures deny]: %r" % (" ".join(FIELD_ORDER), line))
    return out


def audit_of(lines):
    """The audit fields of the one audit line among LINES (syslog lines of
    one login); None when there is not exactly one."""
    found = [f for f in (fields(l) for l in lines) if f is not None]
    return found[0] if len(found) == 1 else None


def syslog_file_line(datagram, host="e2e-host"):
    """DATAGRAM as a line of a syslog file ("Mon DD HH:MM:SS host prog[pid]:
    message"), None when it is not a syslog(3) datagram."""
    m = DATAGRAM_RE.match(datagram)
    if not m or "\n" in m.group("rest"):
        return None
    return "%s %s %s" % (m.group("date"), host, m.group("rest"))


class Fail2ban:
    """The test of ALL_TESTS. TESTS is run.py's Tests, RUN run.py itself,
    RECIPES exemptions.Recipes (for its login())."""

    def __init__(self, tests, run, recipes):
        self.env = tests.env
        self.r = tests.r
        self.run = run
        self.recipes = recipes

    def injection_and_lockout(self):
        """Logins through an sshd with the code alone and deny=1 (a state of
        its own): the injected user name, then USER's wrong code from the
        second address (which locks code entry) and a login during that
        lockout, so that the file surely holds a locked line whatever ran
        before. Returns the sshd lines that name the injected user."""
        env, r, run = self.env, self.r, self.run
        line = "auth required %s state_dir=%s deny=1 unlock_time=600" % (env.module, env.path("state-fail2ban"))
        port, _, slog = env.start_sshd("fail2ban", "keyboard-interactive", line)
        a = self.recipes.login(port, slog, INJECTED_USER, "123456", source="127.0.0.1")
        r.check("fail2ban: a login as %r: refused" % INJECTED_USER, self.recipes.refused(a), a.detail)
        audit = audit_of(a.module)
        r.check("fail2ban: the module wrote no line with the injected rhost; its audit line has "
                "outcome=unknown_user, an empty user and rhost=127.0.0.1",
                not any(INJECTED_HOST in l for l in a.module) and audit is not None
                and audit["outcome"] == "unknown_user" and audit["user"] == ""
                and audit["rhost"] == "127.0.0.1", "\n  ".join(a.module))
        named = [l for l in a.sshd.splitlines() if INJECTED_HOST in l]
        r.check("fail2ban: sshd logged the injected user name (%d lines)" % len(named), bool(named),
                a.sshd[-1000:])

        a = self.recipes.login(port, slog, run.USER, self.recipes.wrong(run.USER), source="127.0.0.2")
        audit = audit_of(a.module)
        r.check("fail2ban: deny=1, a wrong code from 127.0.0.2: refused, code entry locked",
                self.recipes.refused(a) and audit is not None and audit["rhost"] == "127.0.0.2"
                and audit["outcome"] in ("wrong", "locked")
                and any("too many wrong codes" in l for l in a.module), a.detail)
        a = self.recipes.login(port, slog, run.USER, self.recipes.wrong(run.USER), source="127.0.0.2")
        audit = audit_of(a.module)
        r.check("fail2ban: during the lockout: refused, audit outcome=locked rhost=127.0.0.2",
                self.recipes.refused(a) and a.asked == [] and audit is not None
                and audit["outcome"] == "locked" and audit["rhost"] == "127.0.0.2", a.detail)
        return named

    def run_filter(self, tool, work, name, lines):
        """fail2ban-regex over LINES (written to WORK/NAME) with the shipped
        filter: [(the host it would ban, the matched line)], None (a failed
        check) when it did not run."""
        log = os.path.join(work, name)
        with open(log, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        # -o "<ip> <msg>": one line per match, the host it would ban and the
        # matched line; -r: hosts as written, no DNS.
        p = subprocess.run([tool, "-r", "-o", "<ip> <msg>", log, os.path.join(work, "pam_totp.conf")],
                           capture_output=True, text=True, timeout=120)
        if not self.r.check("fail2ban: fail2ban-regex ran over %s (exit %d)" % (name, p.returncode),
                            p.returncode == 0 and not p.stderr.strip(), (p.stderr + p.stdout)[-1500:]):
            return None
        matched = []
        for out in p.stdout.splitlines():
            ip, _, msg = out.partition(" ")
            matched.append((ip, msg))
        return matched

    def check_matches(self, name, lines, matched):
        """MATCHED must be exactly the wrong, replayed and locked lines of
        LINES that have a remote host, each banning that host."""
        r = self.r
        audits = [(l, f) for l, f in ((l, fields(l)) for l in lines) if f is not None]
        expected = [l for l, f in audits if f["outcome"] in BANNED and f["rhost"]]
        local_failures = [l for l, f in audits if f["outcome"] in BANNED and not f["rhost"]]
        never = [l for l, f in audits if f["outcome"] in NEVER_BANNED]
        msgs = [m for _, m in matched]
        missing = list((collections.Counter(expected) - collections.Counter(msgs)).elements())
        extra = list((collections.Counter(msgs) - collections.Counter(expected)).elements())
        r.check("fail2ban, %s: matched every wrong/replayed/locked line with a remote host and nothing "
                "else (%d expected, %d matched)" % (name, len(expected), len(matched)),
                not missing and not extra,
                "missed:\n  %s\nmatched besides:\n  %s" % ("\n  ".join(missing), "\n  ".join(extra)))
        wrong_host = [(ip, m) for ip, m in matched if fields(m) is None or fields(m)["rhost"] != ip]
        r.check("fail2ban, %s: each match bans the line's rhost" % name, not wrong_host,
                "\n  ".join("%s <- %s" % x for x in wrong_host))
        r.check("fail2ban, %s: none of the %d accepted/recovery/grace lines matched" % (name, len(never)),
                not set(never) & set(msgs), "\n  ".join(sorted(set(never) & set(msgs))))
        r.check("fail2ban, %s: none of the %d failures without a remote host (console login) matched"
                % (name, len(local_failures)), not set(local_failures) & set(msgs))
        injected = [l for l in lines if INJECTED_HOST in l]
        r.check("fail2ban, %s: %s is never banned (%d lines name it, none matched)"
                % (name, INJECTED_HOST, len(injected)),
                bool(injected) and not any(ip == INJECTED_HOST or INJECTED_HOST in m for ip, m in matched),
                "\n  ".join(injected))

    def fail2ban_filter(self):
        env, r = self.env, self.r
        tool = shutil.which("fail2ban-regex")
        if not tool or not os.path.exists(COMMON_CONF):
            r.skip("fail2ban_filter", "fail2ban is not installed (scripts/install-deps installs it)")
            return
        sshd_named = self.injection_and_lockout()

        env.log.flush()
        caught = list(env.log.lines)
        module = [d for d in caught if "pam_totp(" in d]
        lines = [syslog_file_line(d) for d in caught]
        unreadable = [d for d, l in zip(caught, lines) if l is None and "pam_totp(" in d]
        r.check("fail2ban: every module line caught is a syslog(3) datagram (%d lines)" % len(module),
                not unreadable, "\n  ".join(unreadable[:5]))
        lines = [l for l in lines if l is not None]
        # What sshd said about the injected name (to stderr under -e, to
        # syslog in real life): in the file too.
        date = lines[-1][:15] if lines else "Jan  1 00:00:00"
        lines += ["%s e2e-host sshd: %s" % (date, l.strip()) for l in sshd_named]

        counts = collections.Counter(f["outcome"] for f in map(fields, lines) if f is not None)
        r.note("fail2ban: %d lines, %d audit lines: %s" % (
            len(lines), sum(counts.values()), ", ".join("%s=%d" % kv for kv in sorted(counts.items()))))
        r.check("fail2ban: the run wrote wrong, replayed and locked lines with a remote host, and "
                "accepted, recovery and grace lines",
                all(any(f is not None and f["outcome"] == o and f["rhost"] for f in map(fields, lines))
                    for o in BANNED + NEVER_BANNED), str(counts))

        work = env.path("fail2ban")
        os.mkdir(work, 0o700)
        shutil.copy(FILTER, os.path.join(work, "pam_totp.conf"))
        shutil.copy(COMMON_CONF, os.path.join(work, "common.conf"))
        # Twice: as caught ("sshd: ...": sshd -e never calls openlog, so
        # glibc's syslog(3) writes no pid), and as an sshd that logs to
        # syslog writes it, with openlog(LOG_PID): "sshd[PID]: ...".
        with_pid = [re.sub(r"^(.{15} \S+ [^\s\[:]+): ", r"\1[%d]: " % (4000 + n), l)
                    for n, l in enumerate(lines)]
        for name, form in (("auth.log", lines), ("auth-pid.log", with_pid)):
            matched = self.run_filter(tool, work, name, form)
            if matched is not None:
                self.check_matches(name, form, matched)
