"""The fleet rows' PostgreSQL (bench/README.md, "Fleet"): a throwaway
cluster (tests/lib/pg_cluster.py) started for one benchmark run and
stopped at its end, also when the run fails.

    cluster = fleet_store.start(WORK, BUILD, ["fresh_socket", ...])
    ... the harness reads WORK/fleet/NAME.conf and WORK/fleet/info ...
    fleet_store.stop(cluster)

Each name is a database of its own (a user logs in once per store and
30-second step), made by `totp-admin --init-store` as the owner role, with
the printed grants given to the hosts' role. NAME.conf is a store.conf
(root, 0600) whose conninfo reaches that database as the hosts' role with
a SCRAM password: over the cluster's Unix socket for names ending in
"socket", over TCP to 127.0.0.1 with TLS (sslmode=verify-full against the
test CA) for names ending in "tls". The cluster lives under WORK (a disk:
on a tmpfs the WAL flush of a commit costs nothing). WORK/fleet/info holds
what the harness needs to read the server's statistics: the data
directory, the socket directory, the port and psql.

Standard library only (and pg_cluster); no bytecode written.
"""

import os
import pwd
import signal
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import pg_cluster  # noqa: E402

OWNER = "pam_totp_owner"
HOST = "pam_totp_host"
# Throwaway passwords of a throwaway cluster that listens on 127.0.0.1 only.
OWNER_PASSWORD = "bench-owner"
HOST_PASSWORD = "bench-host"


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def start(work, build, databases, timeout=3):
    """Starts the cluster and makes the databases; returns the Cluster
    (stop() it whatever happens). Raises when anything fails, after
    stopping what it started."""
    fleet_dir = os.path.join(work, "fleet")
    os.mkdir(fleet_dir, 0o700)
    old_tmpdir = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = work  # pg_cluster's mkdtemp: the cluster on the benchmark's disk
    cluster = pg_cluster.Cluster(tls=True)
    try:
        cluster.create()
        # SCRAM over the Unix socket too (pg_cluster trusts local
        # connections): the two transports then differ by TCP and TLS only.
        hba = os.path.join(cluster.data, "pg_hba.conf")
        with open(hba) as f:
            rules = f.read()
        with open(hba, "w") as f:
            f.write("local all %s scram-sha-256\n" % HOST + rules)
        cluster.start()
    except BaseException:
        stop(cluster)
        raise
    finally:
        if old_tmpdir is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old_tmpdir
    try:
        cluster.psql("CREATE ROLE %s LOGIN PASSWORD '%s'; CREATE ROLE %s LOGIN PASSWORD '%s'"
                     % (OWNER, OWNER_PASSWORD, HOST, HOST_PASSWORD))
        backend = os.path.join(build, "pam_totp_pgsql.so")
        for db in databases:
            tls = db.endswith("tls")
            if not tls and not db.endswith("socket"):
                raise ValueError("fleet database %s: the name ends in socket or tls" % db)
            cluster.psql("CREATE DATABASE %s OWNER %s" % (db, OWNER))
            conf = os.path.join(fleet_dir, db + ".conf")
            conninfo = cluster.conninfo(HOST, HOST_PASSWORD, db=db, tls=tls, socket=not tls)
            _write_private(conf, "conninfo %s\ntimeout %d\nbackend %s\n" % (conninfo, timeout, backend))
            r = subprocess.run([os.path.join(build, "totp-admin"), "--init-store", "--store-config", conf,
                                "--conninfo", cluster.conninfo(OWNER, OWNER_PASSWORD, db=db, socket=True)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or "GRANT" not in r.stdout:
                raise RuntimeError("totp-admin --init-store (%s) failed: %s%s" % (db, r.stdout, r.stderr))
            cluster.psql(r.stdout[r.stdout.index("GRANT"):], db=db)
        info = {"pgdata": cluster.data, "socket_dir": cluster.dir, "port": str(cluster.port),
                "psql": os.path.join(cluster.bindir, "psql")}
        _write_private(os.path.join(fleet_dir, "info"), "".join("%s %s\n" % kv for kv in info.items()))
    except BaseException:
        stop(cluster)
        raise
    return cluster


def _postmaster_pid(cluster):
    try:
        with open(os.path.join(cluster.data, "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError, AttributeError):
        return None


def stop(cluster):
    """Stops the cluster (fast shutdown, then the postmaster killed by its
    pid if it would not stop) and removes its directory. pg_ctl runs as
    the postgres user without runuser: no PAM session, so nothing is logged
    to a /dev/log that nobody may read any more."""
    if cluster is None or cluster.dir is None:
        return
    try:
        pid = _postmaster_pid(cluster)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
            pw = pwd.getpwnam(pg_cluster.Cluster.SUPERUSER)
            subprocess.run([os.path.join(cluster.bindir, "pg_ctl"), "-D", cluster.data, "-w", "-t", "30", "-m", "fast",
                            "stop"], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], cwd=cluster.dir,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cluster.started = False
        pid = _postmaster_pid(cluster)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)  # our own postmaster, by its pid
            except OSError:
                pass
    finally:
        shutil.rmtree(cluster.dir, ignore_errors=True)
        cluster.dir = None
