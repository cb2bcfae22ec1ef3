"""A throwaway PostgreSQL cluster for the fleet tests, the demo and the
benchmark: initdb as the postgres user in a temporary directory, a port
below 32768 on 127.0.0.1 only, its Unix socket in that directory, SCRAM
passwords, and TLS with a test CA made here (openssl), so that
sslmode=verify-full can be tested. Stopped and removed at the end, also
when the caller fails; the system cluster is never touched.

    with Cluster() as pg:
        pg.psql("SELECT 1")                       # as the superuser
        pg.conninfo(user="pam_totp_host", password="...", tls=True)
        pg.stop(); pg.start()                    # restart with the data kept
        pg.signal("SIGSTOP")                     # the postmaster
        pg.crash(); pg.start()                   # SIGKILL, wait for the rest, restart

Standard library only; the server binaries come from Debian's
postgresql-15 (/usr/lib/postgresql/15/bin).
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (install postgresql: scripts/install-deps)")
    return os.path.dirname(found[-1])


def free_port(low=20000, high=32767):
    """A TCP port below 32768 that nothing listens on at 127.0.0.1 now."""
    for port in range(low + os.getpid() % 1000, high):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


def _proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None when it is gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _live(pids):
    """Those of PIDS still running (zombies of this process are reaped)."""
    out = []
    for pid in pids:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                continue
        except ChildProcessError:
            pass
        st = _proc_stat(pid)
        if st is not None and st[0] not in ("Z", "X"):
            out.append(pid)
    return out


def _wait_gone(find, timeout=15.0):
    """Waits until find() (live pids) is empty."""
    deadline = time.monotonic() + timeout
    while _live(find()):
        if time.monotonic() > deadline:
            raise RuntimeError("processes %s did not exit" % _live(find()))
        time.sleep(0.02)


def _group(pgid):
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and (_proc_stat(e) or (0, 0, 0))[2] == pgid]


def _pids_naming(path):
    """The processes whose command line names PATH (initdb -D PATH/data, postgres -D ...)."""
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit() and int(e) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % e, "rb") as f:
                    if os.fsencode(path) in f.read():
                        out.append(int(e))
            except OSError:
                continue
    return out


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        return
    _wait_gone(lambda: _group(pgid))


class Cluster:
    SUPERUSER = "postgres"

    def __init__(self, tls=True):
        self.bindir = _bindir()
        self.tls = tls
        self.dir = None
        self.port = None
        self.started = False

    # --- life cycle ---------------------------------------------------------

    def __enter__(self):
        try:
            self.create()
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False

    def _as_postgres(self, argv, **kw):
        """Runs ARGV as postgres, in a process group of its own: when the
        caller is interrupted meanwhile (an exception from a signal
        handler), the whole group (runuser, initdb and its children) is
        killed and waited for, so that nothing still writes in the
        directory destroy() removes."""
        p = subprocess.Popen(["runuser", "-u", "postgres", "--"] + argv, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)
        try:
            out, _ = p.communicate()
        except BaseException:
            _kill_group(p.pid)
            p.wait()
            raise
        if p.returncode != 0:
            raise subprocess.CalledProcessError(p.returncode, p.args, out)
        return subprocess.CompletedProcess(p.args, 0, out)

    def create(self):
        self.dir = tempfile.mkdtemp(prefix="pam_totp-pg.")
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self._as_postgres([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", self.SUPERUSER,
                           "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])
        conf = [
            "listen_addresses = '127.0.0.1'",
            "port = %d" % self.port,
            "unix_socket_directories = '%s'" % self.dir,
            "password_encryption = 'scram-sha-256'",
            "fsync = on",
            "synchronous_commit = on",
            "logging_collector = off",
            "max_connections = 50",
        ]
        if self.tls:
            self._make_tls()
            conf += ["ssl = on", "ssl_cert_file = '%s'" % self.server_cert, "ssl_key_file = '%s'" % self.server_key]
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write("\n".join(conf) + "\n")
        hba = ["local all all trust",
               "hostssl all all 127.0.0.1/32 scram-sha-256" if self.tls else "",
               "host all all 127.0.0.1/32 scram-sha-256"]
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("\n".join(line for line in hba if line) + "\n")

    def _make_tls(self):
        """A test CA and a server certificate for 127.0.0.1 and localhost."""
        d = os.path.join(self.dir, "tls")
        os.mkdir(d)
        self.ca_cert = os.path.join(d, "ca.crt")
        ca_key = os.path.join(d, "ca.key")
        self.server_cert = os.path.join(d, "server.crt")
        self.server_key = os.path.join(d, "server.key")
        csr = os.path.join(d, "server.csr")
        ext = os.path.join(d, "ext.cnf")
        run = lambda argv: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", ca_key, "-out", self.ca_cert, "-days", "2", "-subj", "/CN=pam_totp test CA"])
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self.server_key, "-out", csr, "-subj", "/CN=localhost"])
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", ca_key, "-CAcreateserial",
             "-out", self.server_cert, "-days", "2", "-extfile", ext])
        pw = pwd.getpwnam("postgres")
        for path in (self.server_cert, self.server_key):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(self.server_key, 0o600)
        os.chmod(self.ca_cert, 0o644)
        os.chmod(d, 0o755)

    def start(self):
        self._as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-t", "30",
                           "-l", os.path.join(self.dir, "server.log"), "start"])
        self.started = True

    def stop(self, mode="fast"):
        if self.started:
            subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                            "-w", "-t", "30", "-m", mode, "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.started = False

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def signal(self, sig):
        os.kill(self.postmaster_pid(), getattr(signal, sig) if isinstance(sig, str) else sig)

    def server_pids(self):
        """The postmaster and the server processes it started (backends,
        checkpointer, walwriter, ...)."""
        master = self.postmaster_pid()
        pids = [master]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                            pids.append(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
        return pids

    def crash(self, timeout=15.0):
        """SIGKILLs the postmaster, as a crash would, then waits until it
        and every server process it had are gone (they notice its death
        and exit), so that start() can run again on the same data. A
        zombie left to this process (a subreaper) is reaped."""
        pids = self.server_pids()
        os.kill(pids[0], signal.SIGKILL)
        _wait_gone(lambda: pids, timeout)
        self.started = False

    def destroy(self):
        if self.dir is None:
            return
        try:
            if self.started:
                try:
                    self.signal(signal.SIGCONT)
                except (OSError, ValueError):
                    pass
                self.stop("immediate")
        finally:
            # Whatever is left of it (a postmaster that would not stop, one
            # started by a pg_ctl that was interrupted), gone before the
            # directory is removed.
            subprocess.run(["pkill", "-KILL", "-f", "postgres.*-D %s" % self.data],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_gone(lambda: _pids_naming(self.dir))
            except RuntimeError:
                pass  # removed as far as it can be
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # --- use ----------------------------------------------------------------

    def psql_run(self, sql, db="postgres", user=None):
        """Runs SQL over the Unix socket (as the superuser, or as USER:
        local connections are trusted); the CompletedProcess, with
        returncode, stdout and stderr."""
        argv = ["runuser", "-u", "postgres", "--", os.path.join(self.bindir, "psql"),
                "-h", self.dir, "-p", str(self.port), "-U", user or self.SUPERUSER, "-d", db,
                "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def psql(self, sql, db="postgres", user=None, check=True):
        """Runs SQL as the superuser (or USER) over the Unix socket; returns stdout."""
        r = self.psql_run(sql, db, user)
        if check and r.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, r.stderr))
        return r.stdout

    def conninfo(self, user, password=None, db="pam_totp", tls=False, socket=False, extra=""):
        """A libpq connection string for the cluster."""
        parts = ["dbname=%s" % db, "user=%s" % user, "port=%d" % self.port]
        if socket:
            parts.append("host=%s" % self.dir)
        else:
            parts.append("host=127.0.0.1")
            if tls:
                parts += ["sslmode=verify-full", "sslrootcert=%s" % self.ca_cert, "host=localhost",
                          "hostaddr=127.0.0.1"]
                parts.remove("host=127.0.0.1")
            else:
                parts.append("sslmode=disable")
        if password is not None:
            parts.append("password=%s" % password)
        if extra:
            parts.append(extra)
        return " ".join(parts)
