// Many real processes logging in as one user at the same moment: one code is
// accepted exactly once, and concurrent failures are all counted.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <string>
#include <vector>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;

// Forks `n` children that wait on a shared pipe, then all log in at once with
// `answer`. Returns each child's PAM return code (-1 when it did not exit).
std::vector<int> simultaneous_logins(Fixture& f, int n, const std::string& user, const std::string& answer) {
    int barrier[2];
    assert_int_equal(::pipe2(barrier, O_CLOEXEC), 0);
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
        const pid_t pid = ::fork();
        if (pid < 0) {
            ::close(barrier[1]);
            ::close(barrier[0]);
            fail_msg("fork failed");
        }
        if (pid == 0) {
            ::close(barrier[1]);
            ::alarm(30);  // never outlive a stuck parent
            char c = 0;
            // Blocks until the parent closes the write end: EOF releases everyone.
            while (::read(barrier[0], &c, 1) < 0) {
            }
            const pamtest::LoginResult r = f.login("totp", user, {answer});
            ::_exit(r.rc & 0x7f);
        }
        f.track_child(pid);
        pids.push_back(pid);
    }
    ::close(barrier[0]);
    ::close(barrier[1]);  // go
    std::vector<int> rcs;
    for (const pid_t pid : pids) {
        rcs.push_back(f.reap(pid));
    }
    return rcs;
}

void one_code_accepted_once_under_concurrency(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100 window=3");
    for (int round = 0; round < 3; ++round) {
        // A fresh enrollment per round: a new secret, a new id, the state
        // rebinds but keeps the last step (steps are time), so each round
        // uses the code of a later step.
        const auto& e = f.enroll("root", {}, 0);
        const std::string code = Fixture::code(e, round);
        const std::vector<int> rcs = simultaneous_logins(f, 24, "root", code);
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
        assert_string_equal(pamtest::line_value(f.state_text("root"), "enrollment_id").c_str(),
                            e.enrollment_id.c_str());
    }
}

void concurrent_failures_all_count(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=10 unlock_time=600");
    const auto& e = f.enroll("root", {}, 0);
    const std::time_t before = ::time(nullptr);
    const std::vector<int> rcs = simultaneous_logins(f, 10, "root", Fixture::wrong_code(e));
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

}  // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_code_accepted_once_under_concurrency, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(concurrent_failures_all_count, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
