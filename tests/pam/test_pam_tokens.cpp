// Several tokens per user (issue 17, pam_totp(8) TOKENS) through the real
// module: HOTP with the RFC 4226 Appendix D vectors, its look-ahead
// (hotp_window=) and replay refusal, two TOTP tokens each with its own
// replay record, one token removed, one code under 24 concurrent logins
// with a second token enrolled, a token's clock drift (the file's
// `offset`, the state's recorded drift), a format 1 file, and the log
// lines that name the token.
#include <syslog.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/otp/hotp.h"
#include "core/otp/totp.h"
#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pam_totp::TokenType;
using pamtest::Fixture;
using pamtest::LoginResult;
using pamtest::Token;
using pamtest::TokensEnrollment;
using pamtest::TokenSpec;
using pamtest::TokensSpec;

// RFC 4226 Appendix D: the secret "12345678901234567890" (ASCII) and its
// 6-digit HOTP values for the counters 0 to 9.
constexpr const char* rfc4226_key = "12345678901234567890";
const std::vector<std::string> rfc4226_codes = {"755224", "287082", "359152", "969429", "338314",
                                                "254676", "287922", "162583", "399871", "520489"};

TokenSpec totp_token(const std::string& name, long offset = 0) {
    TokenSpec t;
    t.name = name;
    t.offset = offset;
    return t;
}

TokenSpec hotp_token(const std::string& name, std::uint64_t counter = 0, const std::string& key = "") {
    TokenSpec t;
    t.name = name;
    t.type = TokenType::hotp;
    t.counter = counter;
    t.key = key;
    return t;
}

// A token kept past a rewrite that drops it from the enrollment.
Token copy_of(const Token& t) {
    return Token{t.name, t.type, t.key.clone(), t.params, t.offset, t.counter};
}

// root's secret file with these tokens and no recovery codes.
TokensEnrollment& enroll_root(Fixture& f, std::vector<TokenSpec> tokens, std::size_t recovery = 0) {
    TokensSpec spec;
    spec.user = "root";
    spec.tokens = std::move(tokens);
    spec.recovery = recovery;
    return f.enroll_tokens(spec);
}

// One login of root with `answer`; fails the test (naming `what`) unless
// it ends with `rc` after exactly one prompt.
LoginResult expect_login(Fixture& f, const std::string& answer, int rc, const std::string& what) {
    const LoginResult r = f.login("totp", "root", {answer});
    if (r.rc != rc) {
        fail_msg("%s: rc %d (%s), expected %d (%s)", what.c_str(), r.rc, ::pam_strerror(nullptr, r.rc), rc,
                 ::pam_strerror(nullptr, rc));
    }
    if (r.prompts.size() != 1) {
        fail_msg("%s: %zu prompts, expected 1", what.c_str(), r.prompts.size());
    }
    return r;
}

// A refusal because the code is outside the window, not because its step
// is used already (which would prove nothing about the window).
void expect_outside_window(Fixture& f, const std::string& answer, const std::string& what) {
    const LoginResult r = expect_login(f, answer, PAM_AUTH_ERR, what);
    if (r.said("already used")) {
        fail_msg("%s: refused as a replay, not as outside the window", what.c_str());
    }
}

// The next counter the state lets an HOTP token accept (0: none recorded).
std::uint64_t hotp_next(const Fixture& f, const Token& t) {
    const auto record = f.token_record(t);
    return record && record->hotp_next ? *record->hotp_next : 0;
}

// The drift the state recorded for a TOTP token (nullopt: none).
std::optional<pam_totp::Drift> drift_of(const Fixture& f, const Token& t) {
    const auto record = f.token_record(t);
    return record ? record->drift : std::nullopt;
}

// Wrong codes the account's budget holds (since the last success).
unsigned wrong_codes(const Fixture& f) {
    const auto st = f.account_state("root");
    return st ? st->record.budget.since_success : 0;
}

// A 6-digit code that none of these tokens accepts near now (TOTP: +-3
// steps; HOTP: counters 0..200).
std::string code_of_no_token(const TokensEnrollment& e) {
    std::set<std::string> taken;
    for (const Token& t : e.tokens) {
        if (t.type == TokenType::totp) {
            for (long k = -3; k <= 3; ++k) {
                taken.insert(Fixture::code(t, k));
            }
        } else {
            for (std::uint64_t c = 0; c <= 200; ++c) {
                taken.insert(Fixture::hotp_code(t, c));
            }
        }
    }
    for (unsigned n = 123457;; n += 7919) {
        const std::string candidate = std::to_string(100000 + n % 900000);
        if (taken.count(candidate) == 0) {
            return candidate;
        }
    }
}

// No log line may carry a typed code or a token's secret.
void assert_logs_free_of(Fixture& f, const std::vector<std::string>& needles) {
    for (const std::string& line : f.drain_logs()) {
        for (const std::string& needle : needles) {
            if (line.find(needle) != std::string::npos) {
                fail_msg("a log line carries a code or secret: %s", line.c_str());
            }
        }
    }
}

// --- HOTP (RFC 4226) ------------------------------------------------------------

// Appendix D in order: each value once, the counter past each; a replay
// (the last one, or any earlier) is refused.
void hotp_rfc4226_in_order(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const TokensEnrollment& e = enroll_root(f, {hotp_token("yubikey", 0, rfc4226_key)});
    const Token& hw = e.token("yubikey");
    for (std::uint64_t c = 0; c < rfc4226_codes.size(); ++c) {
        // The fixture's generator (core) agrees with the RFC's table.
        assert_string_equal(Fixture::hotp_code(hw, c).c_str(), rfc4226_codes[c].c_str());
        expect_login(f, rfc4226_codes[c], PAM_SUCCESS, "RFC 4226 counter " + std::to_string(c));
        assert_int_equal(hotp_next(f, hw), c + 1);
    }
    const LoginResult replay = expect_login(f, rfc4226_codes[9], PAM_AUTH_ERR, "the last code again");
    assert_true(replay.said("already used"));
    expect_login(f, rfc4226_codes[0], PAM_AUTH_ERR, "the first code again");
    expect_login(f, rfc4226_codes[5], PAM_AUTH_ERR, "a middle code again");
    assert_int_equal(hotp_next(f, hw), 10);
    const auto record = f.token_record(hw);
    assert_false(record->pending_hotp.has_value());  // every attempt was settled
    f.expect_log("code accepted (token yubikey)", LOG_INFO);
    f.expect_log("code already used (replay refused) (token yubikey)", LOG_NOTICE);
    f.expect_log_count("code accepted (token yubikey)", 10);
    std::vector<std::string> needles = rfc4226_codes;
    needles.emplace_back("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");  // the key in base32
    assert_logs_free_of(f, needles);
}

// A code further on inside the look-ahead is accepted (the token was
// pressed without a login); the counter moves past it, so the skipped
// codes are refused (RFC 4226 section 7.2).
void hotp_skipped_code_inside_look_ahead(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const TokensEnrollment& e = enroll_root(f, {hotp_token("yubikey", 0, rfc4226_key)});
    const Token& hw = e.token("yubikey");
    expect_login(f, rfc4226_codes[0], PAM_SUCCESS, "counter 0");
    expect_login(f, rfc4226_codes[1], PAM_SUCCESS, "counter 1");
    expect_login(f, rfc4226_codes[4], PAM_SUCCESS, "counter 4 after 1 (2 and 3 skipped)");
    assert_int_equal(hotp_next(f, hw), 5);
    expect_login(f, rfc4226_codes[2], PAM_AUTH_ERR, "skipped counter 2");
    expect_login(f, rfc4226_codes[3], PAM_AUTH_ERR, "skipped counter 3");
    expect_login(f, rfc4226_codes[4], PAM_AUTH_ERR, "counter 4 again");
    expect_login(f, rfc4226_codes[5], PAM_SUCCESS, "counter 5");
    assert_int_equal(hotp_next(f, hw), 6);
}

// hotp_window=2: from counter 5, counters 5..7 are looked at and no further.
void hotp_beyond_look_ahead_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100 hotp_window=2");
    const TokensEnrollment& e = enroll_root(f, {hotp_token("yubikey", 5, rfc4226_key)});
    const Token& hw = e.token("yubikey");
    expect_login(f, rfc4226_codes[8], PAM_AUTH_ERR, "counter 8 from 5 with hotp_window=2");
    expect_login(f, rfc4226_codes[9], PAM_AUTH_ERR, "counter 9 from 5 with hotp_window=2");
    // The refusals moved nothing.
    assert_true(hotp_next(f, hw) <= 5);
    expect_login(f, rfc4226_codes[7], PAM_SUCCESS, "counter 7 from 5 with hotp_window=2");
    assert_int_equal(hotp_next(f, hw), 8);
    // Now 8 is the next one; the two skipped are used up.
    expect_login(f, rfc4226_codes[5], PAM_AUTH_ERR, "skipped counter 5");
    expect_login(f, rfc4226_codes[6], PAM_AUTH_ERR, "skipped counter 6");
    expect_login(f, rfc4226_codes[8], PAM_SUCCESS, "counter 8 from 8");
}

// The file's counter (set at import or by --resync) is the first one the
// module may accept: the codes before it were used elsewhere.
void hotp_file_counter_refuses_earlier_codes(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const TokensEnrollment& e = enroll_root(f, {hotp_token("yubikey", 5, rfc4226_key)});
    for (std::uint64_t c = 0; c < 5; ++c) {
        expect_login(f, rfc4226_codes[c], PAM_AUTH_ERR, "counter " + std::to_string(c) + " below the file's 5");
    }
    expect_login(f, rfc4226_codes[5], PAM_SUCCESS, "counter 5, the file's");
    assert_int_equal(hotp_next(f, e.token("yubikey")), 6);
}

// totp-enroll --resync raises the file's counter past the state's: the
// codes in between are refused. A file whose counter goes back (edited,
// imported again) moves nothing back: the further of the two counts.
void hotp_counter_the_further_of_file_and_state(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    TokensEnrollment& e = enroll_root(f, {hotp_token("yubikey", 0, rfc4226_key)});
    expect_login(f, rfc4226_codes[0], PAM_SUCCESS, "counter 0");
    expect_login(f, rfc4226_codes[1], PAM_SUCCESS, "counter 1");
    assert_int_equal(hotp_next(f, e.token("yubikey")), 2);
    // Resynchronised from the codes of 4 and 5 (hotp_resync: the next is 6).
    f.rewrite_tokens(e, [](pam_totp::SecretFile& sf) { sf.tokens.front().counter = 6; });
    for (std::uint64_t c = 2; c < 6; ++c) {
        expect_login(f, rfc4226_codes[c], PAM_AUTH_ERR, "counter " + std::to_string(c) + " after a resync to 6");
    }
    expect_login(f, rfc4226_codes[6], PAM_SUCCESS, "counter 6 after a resync to 6");
    // The file's counter back at 0: the state's 7 stands.
    f.rewrite_tokens(e, [](pam_totp::SecretFile& sf) { sf.tokens.front().counter = 0; });
    expect_login(f, rfc4226_codes[2], PAM_AUTH_ERR, "counter 2 with the file's counter back at 0");
    expect_login(f, rfc4226_codes[6], PAM_AUTH_ERR, "counter 6 again with the file's counter back at 0");
    expect_login(f, rfc4226_codes[7], PAM_SUCCESS, "counter 7 with the file's counter back at 0");
    assert_int_equal(hotp_next(f, e.token("yubikey")), 8);
}

// Every refused HOTP code (replayed, skipped, beyond the look-ahead) costs
// one guess of the account's budget, as a wrong TOTP code does: deny=4
// locks at the fourth, and a good code is then not even asked for.
void hotp_refusals_count_in_the_budget(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=4 unlock_time=600 hotp_window=2");
    const TokensEnrollment& e = enroll_root(f, {totp_token("phone"), hotp_token("yubikey", 0, rfc4226_key)});
    f.align_clock(30, 1);
    expect_login(f, rfc4226_codes[0], PAM_SUCCESS, "counter 0");
    expect_login(f, rfc4226_codes[1], PAM_SUCCESS, "counter 1");
    assert_int_equal(wrong_codes(f), 0);

    expect_login(f, rfc4226_codes[1], PAM_AUTH_ERR, "replayed HOTP code");
    assert_int_equal(wrong_codes(f), 1);
    expect_login(f, rfc4226_codes[0], PAM_AUTH_ERR, "an older HOTP code");
    assert_int_equal(wrong_codes(f), 2);
    expect_login(f, code_of_no_token(e), PAM_AUTH_ERR, "a wrong TOTP code");
    assert_int_equal(wrong_codes(f), 3);
    const LoginResult locking = expect_login(f, rfc4226_codes[6], PAM_AUTH_ERR, "HOTP code beyond the look-ahead");
    assert_true(locking.said("Too many wrong codes"));
    f.expect_log("too many wrong codes", LOG_WARNING);

    // Locked: the next good code is refused before the prompt, unread.
    const LoginResult locked = f.login("totp", "root", {rfc4226_codes[2]});
    assert_int_equal(locked.rc, PAM_AUTH_ERR);
    assert_true(locked.prompts.empty());
    assert_true(locked.said("locked"));
    assert_int_equal(hotp_next(f, e.token("yubikey")), 2);

    // After the lockout it works, and the user hears of the wrong codes.
    f.advance_clock(601);
    const LoginResult after = expect_login(f, rfc4226_codes[2], PAM_SUCCESS, "counter 2 after the lockout");
    assert_true(after.said("4 wrong codes"));
    assert_int_equal(hotp_next(f, e.token("yubikey")), 3);
}

// --- several TOTP tokens -------------------------------------------------------

// A code from either token works, once; each token keeps its own replay
// record, so the same time step works once on each.
void two_totp_tokens_each_code_once(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    TokensEnrollment& e = enroll_root(f, {totp_token("phone"), totp_token("tablet")});
    assert_string_equal(pamtest::line_value(pamtest::read_file(e.path), "version").c_str(), "2");
    const Token& phone = e.token("phone");
    const Token& tablet = e.token("tablet");
    f.align_clock(30, 1);
    const std::string phone_code = Fixture::code(phone);
    const std::string tablet_code = Fixture::code(tablet);
    assert_string_not_equal(phone_code.c_str(), tablet_code.c_str());

    expect_login(f, phone_code, PAM_SUCCESS, "the phone's code");
    f.expect_log("code accepted (token phone)", LOG_INFO);
    const LoginResult again = expect_login(f, phone_code, PAM_AUTH_ERR, "the phone's code again");
    assert_true(again.said("already used"));
    f.expect_log("code already used (replay refused) (token phone)", LOG_NOTICE);
    expect_login(f, tablet_code, PAM_SUCCESS, "the tablet's code of the same step");
    f.expect_log("code accepted (token tablet)", LOG_INFO);
    expect_login(f, tablet_code, PAM_AUTH_ERR, "the tablet's code again");
    assert_true(f.token_record(phone)->used_until > ::time(nullptr));
    assert_true(f.token_record(tablet)->used_until > ::time(nullptr));
    std::vector<std::string> needles = {phone_code, tablet_code};
    for (const Token& t : e.tokens) {
        auto b32 = pam_totp::base32_encode(t.key);
        assert_true(static_cast<bool>(b32));
        needles.emplace_back(b32.value().view());
    }
    assert_logs_free_of(f, needles);
}

// totp-enroll --remove --name: the removed token's codes fail at once,
// the other token's keep working.
void removed_token_codes_fail_the_other_works(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    TokensEnrollment& e = enroll_root(f, {totp_token("phone"), totp_token("tablet")});
    const Token tablet = copy_of(e.token("tablet"));
    f.align_clock(30, 1);
    expect_login(f, Fixture::code(tablet), PAM_SUCCESS, "the tablet's code before the removal");
    f.advance_clock(30);
    f.remove_token(e, "tablet");
    assert_int_equal(e.tokens.size(), 1);
    assert_true(pamtest::read_file(e.path).find("token tablet") == std::string::npos);
    expect_login(f, Fixture::code(tablet), PAM_AUTH_ERR, "the removed tablet's code");
    expect_login(f, Fixture::code(tablet, 1), PAM_AUTH_ERR, "the removed tablet's next code");
    expect_login(f, Fixture::code(e.token("phone")), PAM_SUCCESS, "the phone's code after the removal");
    f.expect_log("code accepted (token phone)", LOG_INFO);
}

// The first token removed: the other one works, and the recovery codes,
// whose used record hangs on the first token's key (kept as the file's
// recovery anchor), stay used.
void removed_first_token_keeps_used_recovery_codes(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    TokensEnrollment& e = enroll_root(f, {totp_token("phone"), totp_token("tablet")}, 2);
    const Token phone = copy_of(e.token("phone"));
    f.align_clock(30, 1);
    expect_login(f, e.recovery_codes[0], PAM_SUCCESS, "a recovery code");
    f.remove_token(e, "phone");
    assert_true(pamtest::count_lines(pamtest::read_file(e.path), "recovery_anchor") == 1);
    expect_login(f, Fixture::code(phone), PAM_AUTH_ERR, "the removed phone's code");
    expect_login(f, e.recovery_codes[0], PAM_AUTH_ERR, "the used recovery code after the removal");
    expect_login(f, Fixture::code(e.token("tablet")), PAM_SUCCESS, "the tablet's code");
    expect_login(f, e.recovery_codes[1], PAM_SUCCESS, "the unused recovery code");
    expect_login(f, e.recovery_codes[1], PAM_AUTH_ERR, "that recovery code again");
}

// --- concurrency -------------------------------------------------------------

// Fails the test unless exactly one of `rcs` is PAM_SUCCESS and the others
// PAM_AUTH_ERR.
void assert_exactly_one(const std::vector<int>& rcs, const std::string& what) {
    int success = 0;
    for (const int rc : rcs) {
        if (rc == PAM_SUCCESS) {
            ++success;
        } else if (rc != PAM_AUTH_ERR) {
            fail_msg("%s: a login ended with %d", what.c_str(), rc);
        }
    }
    if (success != 1) {
        fail_msg("%s: %d of %zu concurrent logins with one code succeeded", what.c_str(), success, rcs.size());
    }
}

// 24 processes type one code of token A at the same moment while token B
// is enrolled too: one login, whatever order the tokens are tried in.
void one_totp_code_once_under_concurrency_with_two_tokens(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100 window=3");
    const TokensEnrollment& e = enroll_root(f, {totp_token("a"), totp_token("b")});
    for (long step = 0; step < 2; ++step) {
        // B's code (B is tried second), then at the next step A's (tried first).
        const Token& t = e.token(step == 0 ? "b" : "a");
        const std::string code = Fixture::code(t, step);
        assert_exactly_one(f.simultaneous_logins(24, "totp", "root", code), "token " + t.name);
        for (const Token& each : e.tokens) {
            const auto record = f.token_record(each);
            assert_true(record.has_value());
            assert_false(record->pending_until.has_value());  // every charge was settled
        }
        assert_true(f.token_record(t)->used_until > ::time(nullptr));
    }
    f.expect_log_count("code accepted (token b)", 1);
    f.expect_log_count("code accepted (token a)", 1);
}

// The same with an HOTP code: the counter moves once.
void one_hotp_code_once_under_concurrency_with_two_tokens(void** state) {
    Fixture& f = pamtest::get(state);
    // Each of the 69 refused answers is compared with 3 + 3 codes: twice a
    // wrong code of one token in the long limit (rate_limit.h), 138 of the
    // 200 deny=100 allows; hotp_window=10 would make it 5 times and lock.
    f.service("totp", "deny=100 hotp_window=2");
    const TokensEnrollment& e = enroll_root(f, {totp_token("phone"), hotp_token("yubikey", 0, rfc4226_key)});
    const Token& hw = e.token("yubikey");
    for (std::uint64_t c = 0; c < 3; ++c) {
        assert_exactly_one(f.simultaneous_logins(24, "totp", "root", rfc4226_codes[c]),
                           "HOTP counter " + std::to_string(c));
        assert_int_equal(hotp_next(f, hw), c + 1);
        assert_false(f.token_record(hw)->pending_hotp.has_value());
    }
    f.expect_log_count("code accepted (token yubikey)", 3);
}

// --- what the attack review found (issue 17) ----------------------------------

// A secret used as TOTP then rewritten as HOTP (or back): the code of step
// T is the HOTP code of counter T, so the record used one way refuses the
// other kind, rather than accepting a used code again.
void a_secret_keeps_its_kind(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    TokensEnrollment& e = enroll_root(f, {totp_token("phone")});
    f.align_clock(30, 1);
    const std::string used = Fixture::code(e.token("phone"));
    expect_login(f, used, PAM_SUCCESS, "the TOTP code");
    const std::uint64_t step = static_cast<std::uint64_t>(::time(nullptr)) / 30;
    f.rewrite_tokens(e, [step](pam_totp::SecretFile& file) {
        file.tokens.front().type = TokenType::hotp;
        file.tokens.front().counter = step;
    });
    expect_login(f, used, PAM_AUTH_ERR, "the used code, now as HOTP");
    expect_login(f, Fixture::hotp_code(e.token("phone"), step + 1), PAM_AUTH_ERR, "a fresh HOTP code of it");
    f.expect_log_count("was used as a TOTP token before", 2);
}

// A counter at the top of what a file may hold: logins work and the state
// they write reads back (the look-ahead and the step past it fit).
void the_highest_counter_keeps_the_state_readable(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100 hotp_window=100");
    const TokensEnrollment& e = enroll_root(f, {hotp_token("hw", pam_totp::max_file_hotp_counter, rfc4226_key)});
    const Token& hw = e.token("hw");
    const std::uint64_t c = pam_totp::max_file_hotp_counter;
    expect_login(f, code_of_no_token(e), PAM_AUTH_ERR, "a wrong code");
    expect_login(f, Fixture::hotp_code(hw, c + 100), PAM_SUCCESS, "the code at the end of the look-ahead");
    assert_int_equal(hotp_next(f, hw), pam_totp::max_hotp_counter);
    assert_true(f.account_state("root").has_value());
    expect_login(f, code_of_no_token(e), PAM_AUTH_ERR, "a wrong code after it");
    assert_true(f.account_state("root").has_value());
}

// Reordering the tokens does not move the recovery codes' record: a used
// recovery code stays used.
void reordered_tokens_keep_used_recovery_codes(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    TokensEnrollment& e = enroll_root(f, {totp_token("phone"), totp_token("tablet")}, 2);
    expect_login(f, e.recovery_codes[0], PAM_SUCCESS, "a recovery code");
    f.rewrite_tokens(e, [](pam_totp::SecretFile& file) { std::swap(file.tokens[0], file.tokens[1]); });
    expect_login(f, e.recovery_codes[0], PAM_AUTH_ERR, "the used recovery code after reordering");
    expect_login(f, e.recovery_codes[1], PAM_SUCCESS, "the other recovery code");
}

// Every code an answer is compared with is a chance to hit, so the long
// limit counts them: after the same burst of wrong answers (2 x deny), a
// phone and an HOTP token with a look-ahead of 10 (14 codes) wait 5 times as
// long as one token (pam_totp(8), GUESSING LIMITS).
std::time_t lock_after_burst(Fixture& f, const TokensEnrollment& e) {
    for (int i = 0; i < 11; ++i) {
        f.advance_clock(2);  // past fail_interval: only the long limit counts
        const LoginResult r = expect_login(f, code_of_no_token(e), PAM_AUTH_ERR, "a wrong code");
        if (i < 10) {
            assert_false(r.said("Too many wrong codes"));
        } else {
            assert_true(r.said("Too many wrong codes"));
        }
    }
    const auto st = f.account_state("root");
    assert_true(st.has_value());
    return st->record.budget.locked_until - st->record.budget.recent.back();
}

void the_long_limit_counts_codes_compared(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=5 fail_interval=1");
    const std::time_t one = lock_after_burst(f, enroll_root(f, {totp_token("phone")}));
    f.advance_clock(30 * 86400);  // the debt paid back
    const TokensEnrollment& two = enroll_root(f, {totp_token("phone"), hotp_token("hw", 0, rfc4226_key)});
    const std::time_t five = lock_after_burst(f, two);
    print_message("lock after the burst: %lld s with one token, %lld s with a phone and an HOTP token\n",
                  static_cast<long long>(one), static_cast<long long>(five));
    assert_true(five > 4 * one && five < 6 * one);
    // Locked: told so before any prompt, the right code never asked for.
    const LoginResult after = f.login("totp", "root", {Fixture::hotp_code(two.token("hw"), 0)});
    assert_int_equal(after.rc, PAM_AUTH_ERR);
    assert_true(after.prompts.empty());
    assert_true(after.said("try again later"));
}

// --- drift -------------------------------------------------------------------

// An app whose clock is 90 s fast: three steps out of a window of one, so
// refused; after totp-enroll --resync (`offset 90` in the file) the window
// is centred there, from the next step on and later, without widening it
// (the true time's code is then refused).
void resync_offset_accepts_a_fast_clock_and_keeps_accepting(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100 window=1");
    TokensEnrollment& e = enroll_root(f, {totp_token("phone")});
    f.align_clock(30, 1);
    expect_outside_window(f, Fixture::code_at(e.token("phone"), ::time(nullptr) + 90), "90 s fast, no offset");
    assert_int_equal(f.resync_totp(e, "phone", 90), 90);
    assert_string_equal(pamtest::line_value(pamtest::read_file(e.path), "offset").c_str(), "90");
    const Token& phone = e.token("phone");
    // The two codes typed for the resync are used.
    const LoginResult typed = expect_login(f, Fixture::code_at(phone, ::time(nullptr) + 90), PAM_AUTH_ERR,
                                           "the second code typed for the resync");
    assert_true(typed.said("already used"));
    const long long later[] = {30, 3600, 7 * 86400, 90 * 86400};
    for (const long long by : later) {
        f.advance_clock(by);
        f.align_clock(30, 1);
        const std::string when = "offset 90, " + std::to_string(by) + " s on";
        if (by >= 3600) {  // (after 30 s the true time's step is one used already)
            expect_outside_window(f, Fixture::code_at(phone, ::time(nullptr)), when + ": the true time's code");
        }
        expect_login(f, Fixture::code_at(phone, ::time(nullptr) + 90), PAM_SUCCESS, when + ": 90 s fast");
    }
    // Centred acceptances record no drift of their own.
    const auto drift = drift_of(f, phone);
    assert_true(!drift.has_value() || drift->offset == 90);
}

// A code one step off-centre is accepted (window=1) and the state centres
// the next window on it: a clock that keeps running fast is followed, one
// step at a time, never beyond max_clock_offset (300 s); a clock two steps
// out is never accepted in one go (the window is not widened). A resync
// (the file's offset changed) starts anew.
void drift_recentres_one_step_at_a_time_and_is_bounded(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100 window=1");
    TokensEnrollment& e = enroll_root(f, {totp_token("phone")});
    const Token phone = copy_of(e.token("phone"));
    f.align_clock(30, 1);
    // 60 s fast is two steps: out of a window of one.
    expect_outside_window(f, Fixture::code_at(phone, ::time(nullptr) + 60), "60 s fast, no drift yet");
    assert_false(drift_of(f, phone).has_value());
    expect_login(f, Fixture::code_at(phone, ::time(nullptr) + 30), PAM_SUCCESS, "30 s fast (off-centre)");
    auto drift = drift_of(f, phone);
    assert_true(drift.has_value());
    assert_int_equal(drift->offset, 30);
    assert_int_equal(drift->file_offset, 0);
    // Centred on +30 now: 60 s fast is one step off.
    f.advance_clock(30);
    expect_login(f, Fixture::code_at(phone, ::time(nullptr) + 60), PAM_SUCCESS, "60 s fast after the drift of 30");
    assert_int_equal(drift_of(f, phone)->offset, 60);
    f.advance_clock(30);
    expect_login(f, Fixture::code_at(phone, ::time(nullptr) + 90), PAM_SUCCESS, "90 s fast after the drift of 60");
    assert_int_equal(drift_of(f, phone)->offset, 90);
    // It stays accepted, centred, later on; the true time's code does not.
    for (const long long by : {30LL, 3600LL, 86400LL}) {
        f.advance_clock(by);
        f.align_clock(30, 1);
        if (by >= 3600) {  // (after 30 s the true time's step is one used already)
            expect_outside_window(f, Fixture::code_at(phone, ::time(nullptr)), "the true time's code, drift 90");
        }
        expect_login(f, Fixture::code_at(phone, ::time(nullptr) + 90), PAM_SUCCESS,
                     "90 s fast, " + std::to_string(by) + " s on");
        assert_int_equal(drift_of(f, phone)->offset, 90);
    }
    // Walked on step by step up to the bound.
    for (long ahead = 120; ahead <= pam_totp::max_clock_offset; ahead += 30) {
        f.advance_clock(30);
        expect_login(f, Fixture::code_at(phone, ::time(nullptr) + ahead), PAM_SUCCESS,
                     std::to_string(ahead) + " s fast");
        assert_int_equal(drift_of(f, phone)->offset, ahead);
    }
    // One step past the bound is still inside the window around +300, but
    // the recorded drift stays at 300; two steps past it are refused.
    f.advance_clock(30);
    expect_outside_window(f, Fixture::code_at(phone, ::time(nullptr) + pam_totp::max_clock_offset + 60), "360 s fast");
    expect_login(f, Fixture::code_at(phone, ::time(nullptr) + pam_totp::max_clock_offset + 30), PAM_SUCCESS,
                 "330 s fast");
    assert_int_equal(drift_of(f, phone)->offset, pam_totp::max_clock_offset);
    f.advance_clock(30);
    expect_outside_window(f, Fixture::code_at(phone, ::time(nullptr) + pam_totp::max_clock_offset + 60),
                          "360 s fast with the drift at its bound");

    // A resync finds the clock 30 s fast: the drift measured against the
    // file as it was no longer applies; the window is centred on +30.
    // (Later than the last accepted step, +330 s: every code of a step
    // before it stays used.)
    f.advance_clock(pam_totp::max_clock_offset + 60);
    f.align_clock(30, 1);
    assert_int_equal(f.resync_totp(e, "phone", 30), 30);
    f.advance_clock(30);
    expect_outside_window(f, Fixture::code_at(phone, ::time(nullptr) + 300), "300 s fast after a resync to 30");
    expect_login(f, Fixture::code_at(phone, ::time(nullptr) + 30), PAM_SUCCESS, "30 s fast after a resync to 30");
}

// --- formats and options -------------------------------------------------------

// A format 1 file (one TOTP token, as every pam_totp before tokens wrote
// it) still logs in; its token is "default".
void format_1_file_still_logs_in(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("root");
    const std::string text = pamtest::read_file(e.path);
    assert_int_equal(text.rfind("version 1\n", 0), 0);
    assert_int_equal(pamtest::count_lines(text, "token"), 0);
    expect_login(f, Fixture::code(e), PAM_SUCCESS, "a format 1 file");
    expect_login(f, Fixture::code(e), PAM_AUTH_ERR, "a format 1 file, the code again");
    f.expect_log("code accepted (token default)", LOG_INFO);
}

// hotp_window=: 0..100; anything else fails closed before the prompt, the
// option named in the log. The bounds themselves work as said.
void hotp_window_option(void** state) {
    Fixture& f = pamtest::get(state);
    const TokensEnrollment& e = enroll_root(f, {hotp_token("yubikey", 0, rfc4226_key)});
    const Token& hw = e.token("yubikey");
    const std::vector<std::string> bad = {
        "hotp_window=abc",
        "hotp_window=101",
        "hotp_window=-1",
        "hotp_window=",
        "hotp_window",
        "hotp_window=1x",
        "hotp_window=+5",
        "hotp_window=0x5",
        "hotp_window=99999999999999999999",
        "hotp_window=5 hotp_window=5",
    };
    for (const std::string& opts : bad) {
        f.service("totp", opts);
        const std::size_t logged = f.count_logs("hotp_window");
        const LoginResult r = f.login("totp", "root", {rfc4226_codes[0]});
        if (r.rc != PAM_AUTH_ERR) {
            fail_msg("options '%s': rc %d, expected PAM_AUTH_ERR", opts.c_str(), r.rc);
        }
        if (!r.prompts.empty()) {
            fail_msg("options '%s': prompted although the configuration is broken", opts.c_str());
        }
        // The line that says why names the option.
        const double end = pamtest::now_seconds() + 2.0;
        while (f.count_logs("hotp_window") <= logged && pamtest::now_seconds() < end) {
            ::usleep(10 * 1000);
        }
        if (f.count_logs("hotp_window") <= logged) {
            fail_msg("options '%s': no log line names hotp_window", opts.c_str());
        }
    }
    assert_int_equal(hotp_next(f, hw), 0);

    // The largest look-ahead: counter 100 from 0, not 101.
    f.service("totp", "deny=100 hotp_window=100");
    expect_login(f, Fixture::hotp_code(hw, 101), PAM_AUTH_ERR, "counter 101 with hotp_window=100");
    expect_login(f, Fixture::hotp_code(hw, 100), PAM_SUCCESS, "counter 100 with hotp_window=100");
    // None at all: the next counter only.
    f.service("totp", "deny=100 hotp_window=0");
    expect_login(f, Fixture::hotp_code(hw, 102), PAM_AUTH_ERR, "counter 102 from 101 with hotp_window=0");
    expect_login(f, Fixture::hotp_code(hw, 101), PAM_SUCCESS, "counter 101 with hotp_window=0");
    assert_int_equal(hotp_next(f, hw), 102);
    // The default is 10.
    f.service("totp", "deny=100");
    expect_login(f, Fixture::hotp_code(hw, 113), PAM_AUTH_ERR, "counter 113 from 102 by default");
    expect_login(f, Fixture::hotp_code(hw, 112), PAM_SUCCESS, "counter 112 from 102 by default");
}

// A file of a TOTP and an HOTP token: each one's code works and its line
// names it; a wrong code names none.
void log_lines_name_the_token(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const TokensEnrollment& e = enroll_root(f, {totp_token("phone"), hotp_token("yubikey", 0, rfc4226_key)});
    f.align_clock(30, 1);
    expect_login(f, rfc4226_codes[0], PAM_SUCCESS, "the HOTP token's code");
    f.expect_log("code accepted (token yubikey)", LOG_INFO);
    expect_login(f, Fixture::code(e.token("phone")), PAM_SUCCESS, "the TOTP token's code");
    f.expect_log("code accepted (token phone)", LOG_INFO);
    expect_login(f, rfc4226_codes[0], PAM_AUTH_ERR, "the HOTP code again");
    f.expect_log("replay refused) (token yubikey)", LOG_NOTICE);
    expect_login(f, code_of_no_token(e), PAM_AUTH_ERR, "a code of no token");
    f.expect_log("wrong code (", LOG_NOTICE);
    for (const std::string& line : f.drain_logs()) {
        if (line.find("wrong code (") != std::string::npos && line.find("token ") != std::string::npos) {
            fail_msg("a wrong code's line names a token: %s", line.c_str());
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hotp_rfc4226_in_order, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(hotp_skipped_code_inside_look_ahead, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(hotp_beyond_look_ahead_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(hotp_file_counter_refuses_earlier_codes, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(hotp_counter_the_further_of_file_and_state, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(hotp_refusals_count_in_the_budget, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(two_totp_tokens_each_code_once, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(removed_token_codes_fail_the_other_works, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(removed_first_token_keeps_used_recovery_codes, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(one_totp_code_once_under_concurrency_with_two_tokens, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(one_hotp_code_once_under_concurrency_with_two_tokens, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(a_secret_keeps_its_kind, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(the_highest_counter_keeps_the_state_readable, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(reordered_tokens_keep_used_recovery_codes, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(the_long_limit_counts_codes_compared, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(resync_offset_accepts_a_fast_clock_and_keeps_accepting, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(drift_recentres_one_step_at_a_time_and_is_bounded, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(format_1_file_still_logs_in, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(hotp_window_option, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(log_lines_name_the_token, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
