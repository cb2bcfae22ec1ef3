// The state model's rules (core/store/records.h): what a login killed
// between its charge and its settling leaves is settled the strict way, the
// used recovery codes stay bounded and one entry per code, the codes
// left are counted right, and merging a host's record into the store's
// (totp-admin --migrate-to-store) loses no wrong code and counts none twice.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/store/records.h"

namespace {

using pam_totp::AccountRecord;
using pam_totp::RateLimitConfig;
using pam_totp::RecoveryTag;
using pam_totp::TokenRecord;
using pam_totp::UsedRecovery;

constexpr std::time_t t0 = 1'764'290'000;

RecoveryTag tag(unsigned n) {
    RecoveryTag t;
    t.bytes[0] = static_cast<std::uint8_t>(n);
    t.bytes[1] = static_cast<std::uint8_t>(n >> 8);
    t.bytes[7] = 0x5a;
    return t;
}

// "$y$j9T$" + a 22-character salt made from `n`.
std::string setting(unsigned n) {
    std::string salt = std::to_string(n);
    salt.insert(0, 22 - salt.size(), 'A');
    return "$y$j9T$" + salt;
}

std::string hash(unsigned n) {
    return setting(n) + "$" + std::string(43, 'h');
}

// --- settle_stale_charge -------------------------------------------------------------

void stale_charge_counts_as_a_wrong_code(void** /*state*/) {
    const RateLimitConfig c;
    AccountRecord a;
    assert_false(pam_totp::settle_stale_charge(a, c));  // nothing to settle
    assert_true(a == AccountRecord{});

    a.charge = t0;
    assert_true(pam_totp::settle_stale_charge(a, c));
    assert_false(a.charge.has_value());
    assert_int_equal(a.budget.recent.size(), 1);
    assert_int_equal(a.budget.since_success, 1);
    assert_int_equal(a.budget.recent.front(), t0);              // at the time it was charged
    assert_int_equal(pam_totp::debt(a.budget, t0), 86400 / 5);  // and in the long limit's debt
    assert_false(pam_totp::settle_stale_charge(a, c));          // once only
    assert_int_equal(a.budget.recent.size(), 1);
}

// Killed logins lock like wrong codes: deny of them within fail_interval
// lock, at the times they were charged.
void stale_charges_lock_like_wrong_codes(void** /*state*/) {
    const RateLimitConfig c;
    AccountRecord a;
    for (int i = 0; i < 4; ++i) {
        a.charge = t0 + i;
        assert_true(pam_totp::settle_stale_charge(a, c));
        assert_false(pam_totp::is_locked(a.budget, t0 + i));
    }
    a.charge = t0 + 4;
    assert_true(pam_totp::settle_stale_charge(a, c));
    assert_true(pam_totp::is_locked(a.budget, t0 + 4));
    assert_int_equal(a.budget.locked_until, t0 + 4 + 300);
    assert_int_equal(a.budget.lockouts, 1);
}

// --- settle_stale_pending --------------------------------------------------------------

void stale_pending_code_blocks_its_window(void** /*state*/) {
    TokenRecord t;
    assert_false(pam_totp::settle_stale_pending(t));
    assert_true(t == TokenRecord{});

    t.used_until = 1000;
    t.pending_until = 2000;
    assert_true(pam_totp::settle_stale_pending(t));
    assert_int_equal(t.used_until, 2000);  // every code the attempt could have matched is used
    assert_false(t.pending_until.has_value());
    assert_false(pam_totp::settle_stale_pending(t));

    // Never backwards: a pending window older than what is used changes nothing.
    t.pending_until = 1500;
    assert_true(pam_totp::settle_stale_pending(t));
    assert_int_equal(t.used_until, 2000);
}

void stale_pending_recovery_code_is_used(void** /*state*/) {
    TokenRecord t;
    t.pending_recovery = tag(7);
    assert_true(pam_totp::settle_stale_pending(t));
    assert_false(t.pending_recovery.has_value());
    assert_true(pam_totp::recovery_used(t, tag(7)));
    // Kept apart from the codes known to be used: only its tag is known.
    assert_true(t.used_recovery.empty());
    assert_true(t.maybe_used_recovery == (std::vector<RecoveryTag>{tag(7)}));
    assert_false(pam_totp::recovery_used(t, tag(8)));
    // Used for real later: one entry, in the used list.
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(7), setting(7)});
    assert_true(t.maybe_used_recovery.empty());
    assert_int_equal(t.used_recovery.size(), 1);
    assert_true(pam_totp::recovery_used(t, tag(7)));
    // A code already known to be used is not listed again as maybe used.
    pam_totp::remember_maybe_used_recovery(t, tag(7));
    assert_true(t.maybe_used_recovery.empty());

    // Both at once.
    TokenRecord both;
    both.pending_until = 3000;
    both.pending_recovery = tag(9);
    assert_true(pam_totp::settle_stale_pending(both));
    assert_int_equal(both.used_until, 3000);
    assert_true(pam_totp::recovery_used(both, tag(9)));
    assert_false(both.pending_until.has_value() || both.pending_recovery.has_value());
}

// --- remember_used_recovery --------------------------------------------------------------

void used_recovery_is_one_entry_per_code(void** /*state*/) {
    TokenRecord t;
    // A dead attempt's code (tag only), then the same code used for real
    // (tag and setting): one entry, the fuller one.
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(1), {}});
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(1), setting(1)});
    assert_int_equal(t.used_recovery.size(), 1);
    assert_true(t.used_recovery.front().setting == setting(1));
    // A code used under format 1 (setting only), then recorded with its tag.
    pam_totp::remember_used_recovery(t, UsedRecovery{std::nullopt, setting(2)});
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(2), setting(2)});
    assert_int_equal(t.used_recovery.size(), 2);
    // The same entry twice: still one.
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(2), setting(2)});
    assert_int_equal(t.used_recovery.size(), 2);
    // The newest last.
    assert_true(t.used_recovery.back().tag == tag(2));
    // Two setting-only entries of different codes stay two.
    pam_totp::remember_used_recovery(t, UsedRecovery{std::nullopt, setting(3)});
    pam_totp::remember_used_recovery(t, UsedRecovery{std::nullopt, setting(4)});
    assert_int_equal(t.used_recovery.size(), 4);
    // Two tag-only entries of different codes too.
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(5), {}});
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(6), {}});
    assert_int_equal(t.used_recovery.size(), 6);
}

void used_recovery_is_bounded_oldest_first(void** /*state*/) {
    TokenRecord t;
    for (unsigned n = 0; n < pam_totp::max_used_recovery + 25; ++n) {
        pam_totp::remember_used_recovery(t, UsedRecovery{tag(n), setting(n)});
        assert_true(t.used_recovery.size() <= pam_totp::max_used_recovery);
    }
    assert_int_equal(t.used_recovery.size(), pam_totp::max_used_recovery);
    // The 25 oldest are forgotten, the newest kept.
    assert_false(pam_totp::recovery_used(t, tag(0)));
    assert_false(pam_totp::recovery_used(t, tag(24)));
    assert_true(pam_totp::recovery_used(t, tag(25)));
    assert_true(pam_totp::recovery_used(t, tag(pam_totp::max_used_recovery + 24)));
    // Every code of the current file (at most 100) fits.
    static_assert(pam_totp::max_used_recovery >= 100);
}

// Attempts that died unsettled (as many as an attacker likes to kill) can
// never push a code known to be used out of the record: their codes are
// kept in a list of their own, bounded on its own.
void dead_attempts_never_push_used_codes_out(void** /*state*/) {
    TokenRecord t;
    for (unsigned n = 0; n < 100; ++n) {
        pam_totp::remember_used_recovery(t, UsedRecovery{tag(n), setting(n)});
    }
    for (unsigned n = 1000; n < 1000 + 10 * pam_totp::max_maybe_used_recovery; ++n) {
        t.pending_recovery = tag(n);
        assert_true(pam_totp::settle_stale_pending(t));
        assert_true(t.maybe_used_recovery.size() <= pam_totp::max_maybe_used_recovery);
    }
    assert_int_equal(t.used_recovery.size(), 100);
    for (unsigned n = 0; n < 100; ++n) {
        assert_true(pam_totp::recovery_used(t, tag(n)));
    }
    // The newest maybe-used codes are kept, the oldest forgotten.
    const unsigned last = 1000 + 10 * pam_totp::max_maybe_used_recovery - 1;
    assert_true(pam_totp::recovery_used(t, tag(last)));
    assert_false(pam_totp::recovery_used(t, tag(1000)));
    assert_int_equal(t.maybe_used_recovery.size(), pam_totp::max_maybe_used_recovery);
}

void used_settings_and_codes_left(void** /*state*/) {
    TokenRecord t;
    const std::vector<std::string> hashes = {hash(1), hash(2), hash(3), hash(4)};
    assert_int_equal(pam_totp::recovery_codes_left(t, hashes), 4);
    assert_true(pam_totp::used_settings(t).empty());
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(1), setting(1)});
    assert_int_equal(pam_totp::recovery_codes_left(t, hashes), 3);
    pam_totp::remember_used_recovery(t, UsedRecovery{std::nullopt, setting(3)});  // format 1
    assert_int_equal(pam_totp::recovery_codes_left(t, hashes), 2);
    // A tag-only entry (its hash unknown) cannot be counted against the file.
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(9), {}});
    assert_int_equal(pam_totp::recovery_codes_left(t, hashes), 2);
    // Codes of another file (a replaced set) do not count against this one.
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(8), setting(8)});
    assert_int_equal(pam_totp::recovery_codes_left(t, hashes), 2);
    assert_int_equal(pam_totp::recovery_codes_left(t, {}), 0);
    const std::vector<std::string> settings = pam_totp::used_settings(t);
    assert_true(settings == (std::vector<std::string>{setting(1), setting(3), setting(8)}));
    // All used.
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(2), setting(2)});
    pam_totp::remember_used_recovery(t, UsedRecovery{tag(4), setting(4)});
    assert_int_equal(pam_totp::recovery_codes_left(t, hashes), 0);
}

// --- merge_into ----------------------------------------------------------------

std::vector<std::time_t> sorted(std::vector<std::time_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// Three wrong codes typed within one second are three failures after the
// merge (std::unique made them one), and merging the same record again
// adds none.
void merge_keeps_wrong_codes_of_one_second(void** /*state*/) {
    const RateLimitConfig c;
    AccountRecord host;
    for (int i = 0; i < 3; ++i) {
        (void)pam_totp::record_failure(host.budget, c, t0);
    }
    assert_int_equal(host.budget.recent.size(), 3);
    AccountRecord store;
    pam_totp::merge_into(store, host);
    assert_true(store.budget.recent == (std::vector<std::time_t>{t0, t0, t0}));
    assert_int_equal(pam_totp::recent_failures(store.budget, c, t0 + 1), 3);
    assert_int_equal(store.budget.since_success, 3);
    pam_totp::merge_into(store, host);  // migrating twice
    assert_true(store.budget.recent == (std::vector<std::time_t>{t0, t0, t0}));
    assert_int_equal(pam_totp::recent_failures(store.budget, c, t0 + 1), 3);
}

// Per second, the side with more wrong codes wins: what both hold is
// counted once, what only one holds is added.
void merge_takes_the_larger_count_per_second(void** /*state*/) {
    AccountRecord store;
    store.budget.recent = {t0 + 5, t0, t0 + 7, t0 + 7};
    AccountRecord host;
    host.budget.recent = {t0 + 9, t0, t0, t0 + 7};
    pam_totp::merge_into(store, host);
    assert_true(sorted(store.budget.recent) == (std::vector<std::time_t>{t0, t0, t0 + 5, t0 + 7, t0 + 7, t0 + 9}));
    assert_true(std::is_sorted(store.budget.recent.begin(), store.budget.recent.end()));
    // The other way round, the same.
    AccountRecord other;
    other.budget.recent = {t0 + 9, t0, t0, t0 + 7};
    AccountRecord first;
    first.budget.recent = {t0 + 5, t0, t0 + 7, t0 + 7};
    pam_totp::merge_into(other, first);
    assert_true(other.budget.recent == store.budget.recent);
}

// The merged list stays within max_deny, the newest kept.
void merge_is_bounded_newest_kept(void** /*state*/) {
    AccountRecord store;
    AccountRecord host;
    for (unsigned i = 0; i < pam_totp::max_deny; ++i) {
        store.budget.recent.push_back(t0 + static_cast<std::time_t>(i));
        host.budget.recent.push_back(t0 + 1000);
    }
    pam_totp::merge_into(store, host);
    assert_int_equal(store.budget.recent.size(), pam_totp::max_deny);
    assert_true(std::count(store.budget.recent.begin(), store.budget.recent.end(), t0 + 1000) ==
                static_cast<std::ptrdiff_t>(pam_totp::max_deny));
}

// An HOTP counter only moves forward (RFC 4226 section 7.4; FreeIPA's
// ipa_otp_counter): the merge keeps the further of the two, whichever
// side holds it, and a side without one moves nothing.
void merge_keeps_the_further_hotp_counter(void** /*state*/) {
    TokenRecord store;
    TokenRecord host;
    host.hotp_next = 5;
    pam_totp::merge_into(store, host);
    assert_true(store.hotp_next == std::optional<std::uint64_t>(5));
    host.hotp_next = 3;  // behind: the store's stays
    pam_totp::merge_into(store, host);
    assert_true(store.hotp_next == std::optional<std::uint64_t>(5));
    host.hotp_next = 9;
    pam_totp::merge_into(store, host);
    assert_true(store.hotp_next == std::optional<std::uint64_t>(9));
    pam_totp::merge_into(store, TokenRecord{});  // none on the host's side
    assert_true(store.hotp_next == std::optional<std::uint64_t>(9));
    // Counter 0 is a counter: it is taken, not treated as "none".
    TokenRecord empty;
    TokenRecord zero;
    zero.hotp_next = 0;
    pam_totp::merge_into(empty, zero);
    assert_true(empty.hotp_next == std::optional<std::uint64_t>(0));
    // Neither side: still none (a TOTP record gains no counter).
    TokenRecord totp;
    totp.used_until = t0;
    pam_totp::merge_into(totp, TokenRecord{});
    assert_false(totp.hotp_next.has_value());
}

// The drift is where a window is centred, not a used code: the store's
// own stays (with the file offset and confirmed time it was measured
// against); a record without one takes the host's.
void merge_drift(void** /*state*/) {
    TokenRecord store;
    TokenRecord host;
    host.drift = pam_totp::Drift{-90, 30, 1764290010};
    pam_totp::merge_into(store, host);
    assert_true(store.drift == (pam_totp::Drift{-90, 30, 1764290010}));
    TokenRecord other;
    other.drift = pam_totp::Drift{60, 0, 0};
    pam_totp::merge_into(store, other);
    assert_true(store.drift == (pam_totp::Drift{-90, 30, 1764290010}));
    pam_totp::merge_into(store, TokenRecord{});
    assert_true(store.drift == (pam_totp::Drift{-90, 30, 1764290010}));
    TokenRecord none;
    pam_totp::merge_into(none, TokenRecord{});
    assert_false(none.drift.has_value());
    // Merging leaves the rest of the record as merging did before.
    TokenRecord a;
    a.used_until = t0;
    a.drift = pam_totp::Drift{30, 0, t0};
    TokenRecord b;
    b.used_until = t0 + 30;
    b.hotp_next = 4;
    b.drift = pam_totp::Drift{-30, 0, t0};
    pam_totp::merge_into(a, b);
    assert_int_equal(a.used_until, t0 + 30);
    assert_true(a.hotp_next == std::optional<std::uint64_t>(4));
    assert_true(a.drift == (pam_totp::Drift{30, 0, t0}));
}

// settle_stale_pending leaves an HOTP attempt to the login, which has the
// key to find the counter its code matched (records.h).
void stale_pending_leaves_hotp_to_the_login(void** /*state*/) {
    TokenRecord t;
    t.hotp_next = 3;
    t.pending_hotp = pam_totp::PendingHotp{tag(1), 13};
    assert_false(pam_totp::settle_stale_pending(t));
    assert_true(t.pending_hotp.has_value());
    assert_true(t.hotp_next == std::optional<std::uint64_t>(3));
    // Together with a TOTP window pending: that one is settled, the HOTP one kept.
    t.pending_until = t0 + 60;
    assert_true(pam_totp::settle_stale_pending(t));
    assert_int_equal(t.used_until, t0 + 60);
    assert_false(t.pending_until.has_value());
    assert_true(t.pending_hotp == (pam_totp::PendingHotp{tag(1), 13}));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stale_charge_counts_as_a_wrong_code),
        cmocka_unit_test(stale_charges_lock_like_wrong_codes),
        cmocka_unit_test(stale_pending_code_blocks_its_window),
        cmocka_unit_test(stale_pending_recovery_code_is_used),
        cmocka_unit_test(used_recovery_is_one_entry_per_code),
        cmocka_unit_test(used_recovery_is_bounded_oldest_first),
        cmocka_unit_test(dead_attempts_never_push_used_codes_out),
        cmocka_unit_test(used_settings_and_codes_left),
        cmocka_unit_test(merge_keeps_wrong_codes_of_one_second),
        cmocka_unit_test(merge_takes_the_larger_count_per_second),
        cmocka_unit_test(merge_is_bounded_newest_kept),
        cmocka_unit_test(merge_keeps_the_further_hotp_counter),
        cmocka_unit_test(merge_drift),
        cmocka_unit_test(stale_pending_leaves_hotp_to_the_login),
    };
    return cmocka_run_group_tests_name("records", tests, nullptr, nullptr);
}
