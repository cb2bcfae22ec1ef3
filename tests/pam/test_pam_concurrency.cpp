// Many real processes logging in as one user at the same moment: one code is
// accepted exactly once, concurrent failures are all counted, and a login
// that holds the state lock forever does not hang the others.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <ctime>
#include <string>
#include <vector>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;

void one_code_accepted_once_under_concurrency(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100 window=3");
    for (int round = 0; round < 3; ++round) {
        // A fresh enrollment per round: a new secret, so a new replay record
        // (claimed by root's state file); each round uses a later step.
        const auto& e = f.enroll("root", {}, 0);
        const std::string code = Fixture::code(e, round);
        const std::vector<int> rcs = f.simultaneous_logins(24, "totp", "root", code);
        int success = 0;
        for (const int rc : rcs) {
            if (rc == PAM_SUCCESS) {
                ++success;
            } else if (rc != PAM_AUTH_ERR) {
                fail_msg("round %d: a child ended with %d", round, rc);
            }
        }
        if (success != 1) {
            fail_msg("round %d: %d of 24 concurrent logins with one code succeeded", round, success);
        }
        const auto record = f.token_record(e);
        assert_true(record.has_value());
        assert_true(record->used_until > ::time(nullptr));
        assert_false(record->pending_until.has_value());  // every charge was settled
        assert_string_equal(f.claim_of(e).c_str(), "u-root");
    }
}

void concurrent_failures_all_count(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=10 unlock_time=600");
    const auto& e = f.enroll("root", {}, 0);
    const std::time_t before = ::time(nullptr);
    const std::vector<int> rcs = f.simultaneous_logins(10, "totp", "root", Fixture::wrong_code(e));
    for (const int rc : rcs) {
        assert_int_equal(rc, PAM_AUTH_ERR);
    }
    const std::string st = f.state_text("root");
    assert_string_equal(pamtest::line_value(st, "lockouts").c_str(), "1");
    const long until = std::stol(pamtest::line_value(st, "locked_until"));
    assert_true(until >= before + 600);
    assert_true(until <= ::time(nullptr) + 600);

    const pamtest::LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_true(r.said("locked"));
}

// Issue 12, finding 10: a login that holds the state lock and never lets
// go (SIGSTOPped by the user who started su) must not hang the account's
// other logins: they wait a bounded time (about 5 s), then deny with a log
// line. Costs that bound in real time: the wait is on the monotonic clock.
void held_state_lock_denies_within_the_bound(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);  // makes u-root
    const std::string path = f.state_path("root");

    int ready[2];
    assert_int_equal(::pipe2(ready, O_CLOEXEC), 0);
    const pid_t holder = ::fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        ::close(ready[0]);
        const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0 || ::flock(fd, LOCK_EX) != 0) {
            ::_exit(1);
        }
        (void)!::write(ready[1], "x", 1);
        for (;;) {
            ::pause();  // SIGKILLed by the test (or the fixture's teardown)
        }
    }
    f.track_child(holder);
    ::close(ready[1]);
    char c = 0;
    const ssize_t n = ::read(ready[0], &c, 1);
    ::close(ready[0]);
    if (n != 1) {
        fail_msg("the lock holder could not lock %s", path.c_str());
    }

    // The login runs in a child under an alarm: a hang ends as a signal,
    // not as a stuck suite.
    const std::string code = Fixture::code(e, 1);
    const double start = pamtest::now_seconds();
    const pid_t pid = ::fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ::alarm(30);
        const pamtest::LoginResult r = f.login("totp", "root", {code});
        ::_exit(r.rc & 0x7f);
    }
    f.track_child(pid);
    const int rc = f.reap(pid);
    const double took = pamtest::now_seconds() - start;
    print_message("denied after %.2f s while another process held the state lock\n", took);
    if (rc != PAM_AUTH_ERR) {
        fail_msg("login while the state was locked: status %d (-1: killed by the alarm: it hung)", rc);
    }
    if (took > 8.0) {
        fail_msg("the login waited %.1f s for the lock (bound: about 5 s)", took);
    }
    f.expect_log("stays locked by another process", LOG_ERR);

    // With the holder gone the same code works: the denied login never
    // looked at it, so it spent nothing.
    assert_int_equal(::kill(holder, SIGKILL), 0);
    (void)f.reap(holder);
    assert_int_equal(f.login("totp", "root", {code}).rc, PAM_SUCCESS);
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_code_accepted_once_under_concurrency, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(concurrent_failures_all_count, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(held_state_lock_denies_within_the_bound, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
