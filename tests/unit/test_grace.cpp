// The grace period (core/login/grace.h, grace_period=): where a login comes
// from and how long an accepted code spares that place another prompt; the
// grace records in the account's state (core/store/records.h) and their
// lines in the state text (core/store/state_format.h).
#include <array>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/login/grace.h"
#include "core/login/module_options.h"
#include "core/store/records.h"
#include "core/store/state_format.h"

namespace {

using pam_totp::AccountRecord;
using pam_totp::RecoveryTag;
using pam_totp::TokenId;

constexpr std::time_t t0 = 1'764'290'000;
constexpr long hour = 3600;
constexpr std::string_view enrollment = "0123456789abcdef0123456789abcdef";

TokenId id(unsigned n) {
    TokenId t;
    t.bytes[0] = static_cast<std::uint8_t>(n);
    t.bytes[15] = 0x77;
    return t;
}

RecoveryTag place(std::string_view service, std::string_view rhost, std::string_view tty,
                  std::string_view enrolled = enrollment, std::vector<TokenId> tokens = {id(1)}) {
    const auto p = pam_totp::grace_place(service, rhost, tty, enrolled, tokens);
    assert_true(p.has_value());
    return *p;
}

// Nothing tells one caller from another without a remote host or a tty.
void no_place_without_rhost_or_tty(void** /*state*/) {
    const std::vector<TokenId> tokens = {id(1)};
    assert_false(pam_totp::grace_place("cron", "", "", enrollment, tokens).has_value());
    assert_true(pam_totp::grace_place("sudo", "", "/dev/pts/3", enrollment, tokens).has_value());
    assert_true(pam_totp::grace_place("sshd", "192.0.2.1", "ssh", enrollment, tokens).has_value());
}

// Every part of a place counts: another service, host, tty (sudo on another
// terminal), enrollment or token set is another place; the parts cannot
// slide into each other.
void every_part_makes_another_place(void** /*state*/) {
    const RecoveryTag base = place("sshd", "127.0.0.1", "ssh");
    assert_true(base == place("sshd", "127.0.0.1", "ssh"));
    assert_false(base == place("sudo", "127.0.0.1", "ssh"));
    assert_false(base == place("sshd", "127.0.0.2", "ssh"));
    assert_false(base == place("sshd", "127.0.0.1", "/dev/pts/1"));
    assert_false(base == place("sshd", "127.0.0.1", "ssh", "fedcba9876543210fedcba9876543210"));
    assert_false(base == place("sshd", "127.0.0.1", "ssh", enrollment, {id(1), id(2)}));
    assert_false(base == place("sshd", "127.0.0.1", "ssh", enrollment, {id(2)}));
    assert_false(place("ab", "c", "") == place("a", "bc", ""));
    assert_false(place("a", "", "b") == place("a", "b", ""));
}

void grace_lasts_the_period_only(void** /*state*/) {
    AccountRecord account;
    const RecoveryTag here = place("sshd", "127.0.0.1", "ssh");
    const RecoveryTag there = place("sshd", "127.0.0.2", "ssh");
    assert_false(pam_totp::grace_holds(account, here, t0, hour));
    pam_totp::remember_grace(account, here, t0);
    assert_true(pam_totp::grace_holds(account, here, t0, hour));
    assert_true(pam_totp::grace_holds(account, here, t0 + hour - 1, hour));
    assert_false(pam_totp::grace_holds(account, here, t0 + hour, hour));
    assert_false(pam_totp::grace_holds(account, there, t0 + 1, hour));
    // A shorter period set later shortens the grace already granted.
    assert_false(pam_totp::grace_holds(account, here, t0 + 600, 600));
    // Off: never.
    assert_false(pam_totp::grace_holds(account, here, t0, 0));
    // A grant from the future (the clock was set back) does not count.
    assert_false(pam_totp::grace_holds(account, here, t0 - 1, hour));
}

void a_new_grant_replaces_the_old_and_the_list_is_bounded(void** /*state*/) {
    AccountRecord account;
    const RecoveryTag here = place("sshd", "127.0.0.1", "ssh");
    pam_totp::remember_grace(account, here, t0);
    pam_totp::remember_grace(account, here, t0 + 10);
    assert_int_equal(account.grace.size(), 1);
    assert_int_equal(account.grace.front().granted, t0 + 10);
    for (unsigned i = 0; i < pam_totp::max_grace_records + 5; ++i) {
        pam_totp::remember_grace(account, place("sshd", "10.0.0." + std::to_string(i), "ssh"), t0 + 20 + i);
    }
    assert_int_equal(account.grace.size(), pam_totp::max_grace_records);
    // The oldest went first: the first grant is forgotten, the newest kept.
    assert_false(pam_totp::grace_holds(account, here, t0 + 30, hour));
    const RecoveryTag newest = place("sshd", "10.0.0." + std::to_string(pam_totp::max_grace_records + 4), "ssh");
    assert_true(pam_totp::grace_holds(account, newest, t0 + 100, hour));
}

void merge_keeps_the_later_grant(void** /*state*/) {
    const RecoveryTag here = place("sshd", "127.0.0.1", "ssh");
    const RecoveryTag there = place("sshd", "127.0.0.2", "ssh");
    AccountRecord into;
    AccountRecord from;
    pam_totp::remember_grace(into, here, t0);
    pam_totp::remember_grace(from, here, t0 + 50);
    pam_totp::remember_grace(from, there, t0 + 5);
    pam_totp::merge_into(into, from);
    assert_int_equal(into.grace.size(), 2);
    assert_true(pam_totp::grace_holds(into, here, t0 + hour + 10, hour));
    assert_true(pam_totp::grace_holds(into, there, t0 + 10, hour));
}

void grace_lines_round_trip_and_are_strict(void** /*state*/) {
    pam_totp::AccountState s;
    s.account = "alice";
    pam_totp::remember_grace(s.record, place("sshd", "127.0.0.1", "ssh"), t0);
    pam_totp::remember_grace(s.record, place("sudo", "", "/dev/pts/0"), t0 + 1);
    const std::string text = pam_totp::serialise_account_state(s);
    assert_non_null(std::strstr(text.c_str(), "\ngrace "));
    auto back = pam_totp::parse_account_state(text);
    assert_true(back.ok());
    assert_true(back.value() == s);
    const std::string head = "version 2\naccount alice\n";
    for (const char* bad : {"grace 0123\n", "grace 0123456789abcdef\n", "grace 0123456789abcdef:x\n",
                            "grace 0123456789ABCDEF:1\n", "grace 0123456789abcdef:-1\n"}) {
        auto r = pam_totp::parse_account_state(head + bad);
        assert_false(r.ok());
        assert_non_null(std::strstr(r.error().message.c_str(), "'grace'"));
    }
    std::string many = head;
    for (unsigned i = 0; i <= pam_totp::max_grace_records; ++i) {
        many += "grace 0123456789abcdef:" + std::to_string(i) + "\n";
    }
    auto r = pam_totp::parse_account_state(many);
    assert_false(r.ok());
}

void the_option_is_bounded(void** /*state*/) {
    const auto parse = [](const char* arg) {
        const char* argv[] = {arg};
        return pam_totp::parse_module_options(1, argv);
    };
    assert_int_equal(parse("grace_period=3600").value().grace_period, 3600);
    assert_int_equal(parse("grace_period=0").value().grace_period, 0);
    assert_int_equal(parse("grace_period=604800").value().grace_period, 604800);
    assert_false(parse("grace_period=604801").ok());
    assert_false(parse("grace_period=-1").ok());
    assert_false(parse("grace_period=").ok());
    const char* none[] = {"debug"};
    assert_int_equal(pam_totp::parse_module_options(1, none).value().grace_period, 0);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_place_without_rhost_or_tty),
        cmocka_unit_test(every_part_makes_another_place),
        cmocka_unit_test(grace_lasts_the_period_only),
        cmocka_unit_test(a_new_grant_replaces_the_old_and_the_list_is_bounded),
        cmocka_unit_test(merge_keeps_the_later_grant),
        cmocka_unit_test(grace_lines_round_trip_and_are_strict),
        cmocka_unit_test(the_option_is_bounded),
    };
    return cmocka_run_group_tests_name("grace", tests, nullptr, nullptr);
}
