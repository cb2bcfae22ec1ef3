"""A /dev/log of a test's own: the datagram socket that a namespace (or a
host of the fleet tests) sees as /dev/log, read by a thread of the test.
Used by tests/security/world.py (and so tests/locker), tests/lib/fleet_world.py
and tests/e2e/run.py. Standard library only.

    log = SyslogCatcher(path, "security-suite")
    mark = log.mark()
    ...                     # something logs through PATH
    log.flush()             # every datagram sent so far has been read
    lines = log.since(mark)
    log.close()
"""

import os
import socket
import threading
import time


class SyslogCatcher:
    """Every datagram sent to PATH (a socket made 0666), in arrival order,
    in .lines. NAME goes into flush()'s marker; with FLUSH_ON_SINCE,
    since() flushes first."""

    def __init__(self, path, name="syslog-catcher", flush_on_since=False):
        self.path = path
        self.name = name
        self.flush_on_since = flush_on_since
        self.lines = []
        self.cond = threading.Condition()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.serial = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.cond:
                self.lines.append(data.decode("utf-8", "replace"))
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def flush(self, timeout=5.0):
        """Waits until every datagram sent before this call was read: the
        socket queues them in order, so a marker sent now comes after."""
        self.serial += 1
        marker = "%s-flush-%d-%d" % (self.name, os.getpid(), self.serial)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(marker.encode(), self.path)
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(marker in line for line in self.lines[-64:]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("syslog catcher: flush marker not seen in %.0f s" % timeout)
                self.cond.wait(left)
            self.lines = [line for line in self.lines if marker not in line]

    def since(self, mark):
        if self.flush_on_since:
            self.flush()
        with self.cond:
            return list(self.lines[mark:])

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()
