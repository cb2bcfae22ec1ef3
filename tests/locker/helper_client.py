"""Talks pam_totp_check's protocol (core/login/helper_protocol.h) directly,
as a hostile caller would: the setuid helper started by fork and execve as
an ordinary user with a socket on its fd 0 and 1, with whatever
environment, descriptors, limits and privilege restrictions the test asks
for. Standard library only.

    run = HelperRun(path, uid, gid, env={...}, limits={"fsize": 0})
    run.send(request(user, args))
    name, value = run.next()          # ("ask_noecho", b"Verification code: ")
    run.send(message("answer", code))
    ...
    status = run.wait(5)              # ("exit", 0) or ("signal", 9); None: still running
"""

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import socket
import time

PR_SET_NO_NEW_PRIVS = 38
EXIT_SUCCESS, EXIT_DENIED, EXIT_IGNORE, EXIT_UNAVAILABLE, EXIT_REFUSED = 0, 1, 2, 3, 4
EXIT_NAMES = {0: "success", 1: "denied", 2: "ignore", 3: "unavailable", 4: "refused", 127: "not run"}

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _b(value):
    return value if isinstance(value, bytes) else value.encode()


def message(name, value=b""):
    """NAME SP LENGTH LF VALUE LF."""
    value = _b(value)
    return _b(name) + b" %d\n" % len(value) + value + b"\n"


def request(user, args=(), service="locker-test", tty="", rhost="", authtok=None, deferred=None, hello="1"):
    """The module's request, hello to end."""
    out = message("hello", hello) + message("user", user) + message("service", service)
    out += message("tty", tty) + message("rhost", rhost)
    for a in args:
        out += message("arg", a)
    if authtok is not None:
        out += message("authtok", authtok)
    if deferred is not None:
        out += message("deferred", deferred)
    return out + message("end")


class ProtocolError(Exception):
    pass


def describe(status):
    if status is None:
        return "still running"
    kind, value = status
    if kind == "exit":
        return "exit %d (%s)" % (value, EXIT_NAMES.get(value, "?"))
    if kind == "lost":
        return "reaped by someone else"
    return "killed by signal %d" % value


class HelperRun:
    """One pam_totp_check process run by uid/gid with a socket on fd 0 and 1.

    env:          its environment (default: empty, as the module gives it)
    limits:       {"fsize": n, "nofile": n, "as": n, "cpu": n} set with prlimit(1) before the exec
    close:        which of fd 0, 1, 2 to close before the exec (the socket is then not there)
    extra_files:  paths the caller opens (as itself) and leaves open across the exec, each `extra_count` times
    no_new_privs: PR_SET_NO_NEW_PRIVS before the exec (the kernel then ignores the setuid bit)
    argv:         its arguments, argv[0] first (it reads none)
    nonblocking:  its socket with O_NONBLOCK (a flag of the open file, shared with the caller)
    itimers:      seconds: ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF armed to fire that
                  long after the exec (interval timers survive execve)
    """

    def __init__(self, helper, uid, gid, env=None, limits=None, close=(), extra_files=(), extra_count=1,
                 no_new_privs=False, argv=("pam_totp_check",), nonblocking=False, itimers=None):
        self.helper = helper
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if nonblocking:
            theirs.setblocking(False)
        err_r, err_w = os.pipe()
        argv = list(argv)
        path = helper
        if limits:
            path = "/usr/bin/prlimit"
            argv = ["prlimit"] + ["--%s=%d:%d" % (k, v, v) for k, v in sorted(limits.items())] + ["--", helper]
        env = {} if env is None else env
        self.started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                for sig in (signal.SIGXFSZ, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                            signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                os.dup2(theirs.fileno(), 0)
                os.dup2(theirs.fileno(), 1)
                os.dup2(err_w, 2)
                for p in extra_files:
                    for _ in range(extra_count):
                        fd = os.open(p, os.O_RDONLY)
                        os.set_inheritable(fd, True)
                for fd in close:
                    os.close(fd)
                if itimers:
                    for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
                        signal.setitimer(timer, itimers)
                if no_new_privs and _libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0),
                                                ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
                    os._exit(126)
                os.execve(path, argv, env)
            except BaseException:  # pylint: disable=broad-except
                pass
            os._exit(127)
        theirs.close()
        os.close(err_w)
        self.err_r = err_r
        self.pid = pid
        self.status = None
        self.buffer = b""
        self.eof = False
        self.received = []
        self.err_output = b""
        self.log = []

    # --- talking --------------------------------------------------------

    def send(self, data):
        """Sends bytes; False when the helper is gone (EPIPE, ECONNRESET)."""
        try:
            self.sock.sendall(_b(data))
            return True
        except OSError:
            return False

    def _parse(self):
        """One complete message from the buffer, or None."""
        sp = self.buffer.find(b" ")
        if sp < 0:
            return None
        lf = self.buffer.find(b"\n", sp)
        if lf < 0:
            return None
        name = self.buffer[:sp].decode("ascii", "replace")
        try:
            length = int(self.buffer[sp + 1:lf])
        except ValueError as e:
            raise ProtocolError("bad length from the helper: %r" % self.buffer[:40]) from e
        end = lf + 1 + length
        if len(self.buffer) < end + 1:
            return None
        if self.buffer[end:end + 1] != b"\n":
            raise ProtocolError("value not followed by LF: %r" % self.buffer[:80])
        value = self.buffer[lf + 1:end]
        self.buffer = self.buffer[end + 1:]
        return name, value

    def next(self, timeout=10.0):
        """The next message (name, value); None at EOF; TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            m = self._parse()
            if m is not None:
                self.received.append(m)
                return m
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from the helper in %.1f s" % timeout)
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.eof = True
            self.buffer += data

    def converse(self, answers, timeout=10.0, on_ask=None):
        """Answers each ask with the next of ANSWERS (None: no_answer; when
        they run out, closes the socket). ON_ASK(self, prompt) runs before
        each answer. Returns every message received until EOF."""
        answers = list(answers)
        while True:
            m = self.next(timeout)
            if m is None:
                return self.received
            name, value = m
            if name in ("ask_echo", "ask_noecho"):
                if on_ask:
                    on_ask(self, value)
                if not answers:
                    self.close_socket()
                    continue
                a = answers.pop(0)
                self.send(message("no_answer") if a is None else message("answer", a))

    def texts(self):
        """The info and error lines received."""
        return [v.decode("utf-8", "replace") for n, v in self.received if n in ("info", "error")]

    def close_socket(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()

    # --- the process ----------------------------------------------------

    def poll(self):
        if self.status is None:
            try:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:   # reaped by the namespace's cleanup
                self.status = ("lost", 0)
                self.ended = time.monotonic()
                return self.status
            if pid == self.pid:
                self.status = ("exit", os.waitstatus_to_exitcode(st)) if os.WIFEXITED(st) else \
                    ("signal", os.WTERMSIG(st))
                self.ended = time.monotonic()
        return self.status

    def wait(self, timeout=10.0):
        """("exit", code) or ("signal", n); None when still running after TIMEOUT."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.002)
        return self.status

    def stderr(self):
        """What the helper wrote on fd 2 (it must be nothing)."""
        out = b""
        while True:
            r, _, _ = select.select([self.err_r], [], [], 0)
            if not r:
                return out
            chunk = os.read(self.err_r, 65536)
            if not chunk:
                return out
            out += chunk

    def kill(self, sig=signal.SIGKILL):
        if self.status is None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, sig)

    def finish(self, timeout=10.0):
        """Closes the socket, waits (SIGKILL after TIMEOUT); the status."""
        self.close_socket()
        st = self.wait(timeout)
        if st is None:
            self.kill()
            st = self.wait(5)
        if self.err_r is not None:
            self.err_output += self.stderr()
            with contextlib.suppress(OSError):
                os.close(self.err_r)
            self.err_r = None
        return st
