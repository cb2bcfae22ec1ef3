// The long-horizon guessing budget (issue 12) through the real module at
// the default options, on the simulated clock (the time shim): an attacker
// who holds the password guesses codes for a year, (i) as fast as the
// module lets him, waiting out each lockout, and (ii) paced under the
// short horizon (deny - 1 guesses per fail_interval), also waiting out
// lockouts, and (iii) as fast as it can between the victim's own logins,
// every three hours (a success must not give the budget back). Each guess that the module evaluates is one chance in
// 10^6 for each of the 2 x window + 1 codes it accepts: 3e-6 at window=1. The yearly success probability 1 - (1 -
// 3e-6)^n must stay below 1 % for both.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Enrollment;
using pamtest::Fixture;
using pamtest::LoginResult;

constexpr long long year = 365LL * 24 * 3600;
constexpr double per_guess = 3e-6;  // 3 codes in 10^6 at window=1
constexpr unsigned deny = 5;        // the defaults, for the pacing
constexpr long long fail_interval = 900;

struct Tally {
    long long guesses = 0;   // answers the module evaluated
    long long logins = 0;    // logins tried (a locked one is refused before the prompt)
    long long lockouts = 0;  // lockouts seen
};

// One login with a wrong code; true when the module asked for (and so
// evaluated) the answer.
bool guess(Fixture& f, const Enrollment& e) {
    const LoginResult r = f.login("totp", "root", {Fixture::wrong_code(e)});
    if (r.rc != PAM_AUTH_ERR) {
        fail_msg("a wrong code: rc %d", r.rc);
    }
    return !r.prompts.empty();
}

// When code entry is locked: until when (0: not locked).
long long locked_until(const Fixture& f) {
    const auto st = f.account_state("root");
    if (!st) {
        return 0;
    }
    const long long until = static_cast<long long>(st->record.budget.locked_until);
    return until > static_cast<long long>(::time(nullptr)) ? until : 0;
}

// One attempt; when it is refused unasked (locked), the state must say
// until when, or the attacker could never wait the lockout out.
void attempt(Fixture& f, const Enrollment& e, Tally& t) {
    ++t.logins;
    if (guess(f, e)) {
        ++t.guesses;
    } else if (locked_until(f) == 0) {
        fail_msg("a login was refused without a prompt, and the state shows no lockout");
    }
}

double success_probability(long long guesses) {
    return 1.0 - std::pow(1.0 - per_guess, static_cast<double>(guesses));
}

// Runs `next` (one step of an attacker, moving the clock) until a
// simulated year has passed, then reports and checks the figure.
template <typename Step>
Tally attack_for_a_year(Fixture& f, const char* who, Step next) {
    f.service("totp", "");  // the defaults: deny=5 fail_interval=900 unlock_time=300 max_unlock_time=86400
    const auto& e = f.enroll("root", {}, 0);
    const long long end = static_cast<long long>(::time(nullptr)) + year;
    const double started = pamtest::now_seconds();
    // More guesses than this in a year is 1 % or more: stop there.
    const auto bound = static_cast<long long>(std::log(0.99) / std::log(1.0 - per_guess)) + 1;
    Tally t;
    while (static_cast<long long>(::time(nullptr)) < end && t.guesses < bound) {
        next(e, t);
    }
    const double p = success_probability(t.guesses);
    if (t.guesses >= bound) {
        fail_msg("%s attacker: %lld guesses evaluated within %.0f simulated days: 1 %% or more a year", who, t.guesses,
                 static_cast<double>(static_cast<long long>(::time(nullptr)) - (end - year)) / 86400.0);
    }
    std::printf(
        "%s attacker: %lld guesses evaluated in a simulated year (%lld logins, %lld lockouts, %.1f s): "
        "success probability 1-(1-3e-6)^%lld = %.3f %%\n",
        who, t.guesses, t.logins, t.lockouts, pamtest::now_seconds() - started, t.guesses, p * 100.0);
    std::fflush(stdout);
    if (f.logs_captured()) {
        // Every evaluated answer is one log line: a wrong code, or the one
        // that locked. The last lines may still be on their way to the
        // fixture's reader thread: waited for, briefly.
        const auto logged_now = [&f] {
            return static_cast<long long>(f.count_logs("wrong code (") + f.count_logs("wrong code; too many"));
        };
        const double deadline = pamtest::now_seconds() + 2.0;
        long long logged = logged_now();
        while (logged < t.guesses && pamtest::now_seconds() < deadline) {
            ::usleep(10 * 1000);
            logged = logged_now();
        }
        if (logged != t.guesses) {
            fail_msg("%lld guesses counted here, %lld in the log", t.guesses, logged);
        }
    }
    if (!(p < 0.01)) {
        fail_msg("%s attacker: %.3f %% a year, the goal is < 1 %%", who, p * 100.0);
    }
    return t;
}

// Guesses back to back; when locked out, waits for the end of the lockout.
void fast_attacker(void** state) {
    Fixture& f = pamtest::get(state);
    f.set_clock(0);
    (void)attack_for_a_year(f, "fast", [&f](const Enrollment& e, Tally& t) {
        attempt(f, e, t);
        if (const long long until = locked_until(f); until != 0) {
            ++t.lockouts;
            f.advance_clock(until - static_cast<long long>(::time(nullptr)));
        }
    });
}

// deny - 1 guesses per fail_interval, evenly spaced, so the short horizon
// never locks; when the long one does, waits for the end of the lockout.
void paced_attacker(void** state) {
    Fixture& f = pamtest::get(state);
    f.set_clock(0);
    const long long spacing = fail_interval / (deny - 1) + 1;
    (void)attack_for_a_year(f, "paced", [&f, spacing](const Enrollment& e, Tally& t) {
        attempt(f, e, t);
        if (const long long until = locked_until(f); until != 0) {
            ++t.lockouts;
            f.advance_clock(until - static_cast<long long>(::time(nullptr)));
        } else {
            f.advance_clock(spacing);
        }
    });
}

// Guesses back to back, as the fast one, while the victim logs in with the
// right code every three hours: the victim's successes must not hand the
// attacker a new budget (they clear the short limit, never the long one).
void attacker_between_the_victims_logins(void** state) {
    Fixture& f = pamtest::get(state);
    f.set_clock(0);
    constexpr long long victim_every = 3 * 3600;
    long long next_victim = static_cast<long long>(::time(nullptr)) + victim_every;
    long long victim_logins = 0;
    const Tally t = attack_for_a_year(f, "interleaved", [&](const Enrollment& e, Tally& tally) {
        const auto now = static_cast<long long>(::time(nullptr));
        if (now >= next_victim) {
            // The victim types the code of a step nobody has used yet.
            f.advance_clock(e.params.period);
            if (locked_until(f) == 0) {
                const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
                if (r.rc != PAM_SUCCESS) {
                    fail_msg("the victim's right code: rc %d", r.rc);
                }
                ++victim_logins;
            }
            next_victim += victim_every;
            return;
        }
        attempt(f, e, tally);
        if (const long long until = locked_until(f); until != 0) {
            ++tally.lockouts;
            f.advance_clock(std::min(until, next_victim) - now);
        }
    });
    std::printf("interleaved: the victim logged in %lld times\n", victim_logins);
    assert_true(victim_logins > 0);
    assert_true(t.guesses > 0);
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fast_attacker, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(paced_attacker, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(attacker_between_the_victims_logins, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests_name("pam_budget", tests, nullptr, nullptr);
}
