"""What the Python suites share to run their tests and count the results:
the "ok - " / "FAIL - " / "skip - " / "# " lines (Results, note), the
signals that end a run through its cleanup (Interrupted), and the main()
of a suite that runs as the init of private mount and PID namespaces
(namespace_init, run_tests: tests/security/ns_suite.py and
tests/locker/ns_suite.py, started by tests/lib/ns_runner.py). Used also by
tests/lib/ns_runner.py, tests/fleet/run.py and tests/e2e/run.py. Standard
library only.
"""

import contextlib
import os
import signal
import sys
import time
import traceback

import proc_tree

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


def trap_signals():
    """SIGINT, SIGTERM and SIGHUP raise Interrupted (the run's cleanup follows)."""
    for sig in SIGNALS:
        signal.signal(sig, on_signal)


def ignore_signals():
    """SIGINT, SIGTERM and SIGHUP ignored: a cleanup under way is not cut short."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def uninterrupted():
    """A cleanup that no SIGINT, SIGTERM or SIGHUP cuts short; their
    default actions come back after it."""
    ignore_signals()
    try:
        yield
    finally:
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_DFL)


def note(text):
    print("# " + text, flush=True)


class Results:
    """The counts of a run, printed as they come: "ok - NAME", "FAIL -
    NAME: DETAIL", "skip - NAME: WHY"; summary() is the last line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.notes = []

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok - %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL - %s%s" % (name, (": " + str(detail)) if detail else ""), flush=True)
        return ok

    def skip(self, name, why):
        self.skipped += 1
        print("skip - %s: %s" % (name, why), flush=True)

    def note(self, text):
        self.notes.append(text)
        note(text)

    def summary(self):
        line = "%d passed, %d failed" % (self.passed, self.failed)
        if self.skipped:
            line += ", %d skipped" % self.skipped
        return line


def chosen(names, only):
    """The NAMES that contain one of the comma-separated words of ONLY
    (all of them when ONLY is empty)."""
    return [n for n in names if not only or any(o in n for o in only.split(","))]


def run_tests(suite, results, names):
    """suite.NAME() for each of NAMES, timed; an exception fails that test
    alone (Interrupted ends the run)."""
    for name in names:
        t0 = time.monotonic()
        print("# --- %s" % name, flush=True)
        try:
            getattr(suite, name)()
        except Interrupted:
            raise
        except Exception:  # pylint: disable=broad-except
            results.check(name, False, traceback.format_exc())
        note("%s: %.1f s" % (name, time.monotonic() - t0))


def namespace_init(argv, make_world, run):
    """main() of a suite that runs as the init of its namespaces
    (`ns_suite.py ROOT`, started by ns_runner.run_suite): MAKE_WORLD(ROOT)
    makes the world, RUN(world, results) builds it and runs the tests. Every
    process started is killed before it returns (orphans come to it, the
    namespace's init), also on failure or on SIGINT/SIGTERM/SIGHUP. The last
    line printed is "N passed, M failed"; the return value 0, 1, or 2 (usage)."""
    if len(argv) != 2:
        sys.stderr.write("usage: %s ROOT (started by run.py)\n" % os.path.basename(argv[0]))
        return 2
    trap_signals()
    proc_tree.become_subreaper()
    results = Results()
    world = make_world(argv[1])
    try:
        run(world, results)
    except Interrupted as e:
        results.check("run", False, "interrupted (%s)" % e)
    except Exception:  # pylint: disable=broad-except
        results.check("setup", False, traceback.format_exc())
    finally:
        ignore_signals()
        world.close()
    left = proc_tree.descendants()
    results.check("namespace: every process started was killed", not left, "pids %s" % left)
    print(results.summary(), flush=True)
    return 1 if results.failed else 0
