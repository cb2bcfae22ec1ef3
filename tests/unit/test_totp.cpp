// TOTP through liboath: the RFC vectors, verification, windows, replay, base32.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "cmocka.hpp"
#include "core/otp/totp.h"
#include "vectors.h"

namespace {

using pam_totp::Algorithm;
using pam_totp::SecureBuffer;
using pam_totp::TotpOutcome;
using pam_totp::TotpParams;

// RFC 6238 Appendix B, key "12345678901234567890".
SecureBuffer rfc_key() {
    return SecureBuffer(std::string_view("12345678901234567890"));
}

std::string code_at(const SecureBuffer& key, const TotpParams& p, std::time_t t) {
    auto r = pam_totp::totp_generate(key, p, t);
    assert_true(r.ok());
    return std::string(r.value().view());
}

void rfc6238_appendix_b(void** /*state*/) {
    const auto rows = pam_totp::test::read_vector_file("rfc6238.vec");
    assert_int_equal(rows.size(), 18);  // six times, three algorithms
    for (const auto& row : rows) {
        assert_int_equal(row.size(), 4);
        const auto alg = pam_totp::parse_algorithm(row[0]);
        assert_true(alg.has_value());
        const SecureBuffer key(pam_totp::test::from_hex(row[1]));
        const TotpParams p{*alg, 8, 30};
        const std::time_t t = std::stoll(row[2]);
        assert_string_equal(code_at(key, p, t).c_str(), row[3].c_str());
        // The verifier finds the same code at step T (window 0).
        auto v = pam_totp::totp_verify(key, p, row[3], t, 0, 0);
        assert_true(v.ok());
        assert_int_equal(v.value().outcome, TotpOutcome::accepted);
        assert_int_equal(v.value().step, pam_totp::time_step(t, 30));
    }
}

void rfc4226_appendix_d(void** /*state*/) {
    // TOTP is HOTP with C = T (RFC 6238 section 4), so the HOTP vectors are
    // the codes at t = C * period.
    const auto rows = pam_totp::test::read_vector_file("rfc4226.vec");
    assert_int_equal(rows.size(), 10);
    for (const auto& row : rows) {
        const SecureBuffer key(pam_totp::test::from_hex(row[0]));
        const TotpParams p{Algorithm::sha1, 6, 30};
        const std::time_t t = std::stoll(row[1]) * 30;
        assert_string_equal(code_at(key, p, t).c_str(), row[2].c_str());
    }
}

void time_step_follows_rfc(void** /*state*/) {
    assert_int_equal(pam_totp::time_step(59, 30), 1);
    assert_int_equal(pam_totp::time_step(1111111109, 30), 0x23523EC);
    assert_int_equal(pam_totp::time_step(20000000000, 30), 0x27BC86AA);
    assert_int_equal(pam_totp::time_step(0, 30), 0);
    assert_int_equal(pam_totp::time_step(-5, 30), 0);
}

void current_code_accepted_with_step(void** /*state*/) {
    const auto key = rfc_key();
    const TotpParams p;
    const std::time_t now = 1700000000;
    const auto code = code_at(key, p, now);
    auto v = pam_totp::totp_verify(key, p, code, now, 1, 0);
    assert_true(v.ok());
    assert_int_equal(v.value().outcome, TotpOutcome::accepted);
    assert_int_equal(v.value().step, now / 30);
}

void window_bounds(void** /*state*/) {
    const auto key = rfc_key();
    const TotpParams p;
    const std::time_t now = 1700000000;
    const auto prev = code_at(key, p, now - 30);
    const auto next = code_at(key, p, now + 30);
    const auto far = code_at(key, p, now + 60);
    assert_int_equal(pam_totp::totp_verify(key, p, prev, now, 1, 0).value().outcome, TotpOutcome::accepted);
    assert_int_equal(pam_totp::totp_verify(key, p, prev, now, 1, 0).value().step, now / 30 - 1);
    assert_int_equal(pam_totp::totp_verify(key, p, next, now, 1, 0).value().step, now / 30 + 1);
    assert_int_equal(pam_totp::totp_verify(key, p, prev, now, 0, 0).value().outcome, TotpOutcome::wrong);
    assert_int_equal(pam_totp::totp_verify(key, p, far, now, 1, 0).value().outcome, TotpOutcome::wrong);
    assert_int_equal(pam_totp::totp_verify(key, p, far, now, 2, 0).value().outcome, TotpOutcome::accepted);
}

void replay_refused(void** /*state*/) {
    const auto key = rfc_key();
    const TotpParams p;
    const std::time_t now = 1700000000;
    const std::uint64_t step = now / 30;
    const std::time_t step_start = static_cast<std::time_t>(step) * 30;
    const auto code = code_at(key, p, now);
    // used_until is absolute time: the end of the last step used. The same
    // step again: refused. Anything used up to a later instant: refused.
    const std::time_t this_end = pam_totp::step_end(step, 30);
    assert_int_equal(this_end, step_start + 30);
    assert_int_equal(pam_totp::totp_verify(key, p, code, now, 1, this_end).value().outcome, TotpOutcome::replayed);
    assert_int_equal(pam_totp::totp_verify(key, p, code, now, 1, this_end + 30).value().outcome, TotpOutcome::replayed);
    // One second into the step is enough to refuse it; the step's start is not.
    assert_int_equal(pam_totp::totp_verify(key, p, code, now, 1, step_start + 1).value().outcome,
                     TotpOutcome::replayed);
    assert_int_equal(pam_totp::totp_verify(key, p, code, now, 1, step_start).value().outcome, TotpOutcome::accepted);
    // The step before was the last used: accepted.
    assert_int_equal(pam_totp::totp_verify(key, p, code, now, 1, step_start - 30).value().outcome,
                     TotpOutcome::accepted);
    // A previous step's code after a newer one was used: refused.
    const auto prev = code_at(key, p, now - 30);
    assert_int_equal(pam_totp::totp_verify(key, p, prev, now, 1, this_end).value().outcome, TotpOutcome::replayed);
}

// step_end and window_end in absolute time, and their edges.
void step_and_window_ends(void** /*state*/) {
    assert_int_equal(pam_totp::step_end(0, 30), 30);
    assert_int_equal(pam_totp::step_end(56666666, 30), 1700000010);
    assert_int_equal(pam_totp::step_end(113333333, 15), 1700000010);
    // Saturates instead of overflowing.
    assert_true(pam_totp::step_end(~std::uint64_t{0} - 1, 120) == std::numeric_limits<std::time_t>::max());
    assert_true(pam_totp::step_end(std::uint64_t{1} << 62, 120) == std::numeric_limits<std::time_t>::max());
    // window_end: the end of the last step a code typed now could match.
    assert_int_equal(pam_totp::window_end(1700000000, 30, 0), 1700000010);
    assert_int_equal(pam_totp::window_end(1700000000, 30, 1), 1700000040);
    assert_int_equal(pam_totp::window_end(1700000000, 30, 10), 1700000310);
    assert_int_equal(pam_totp::window_end(1700000000, 15, 1), 1700000025);
}

// The replay record survives a change of period (re-enrollment with the
// same key, 15 s -> 30 s): in absolute time the record of a 15 s step does
// not refuse 30 s codes for decades (as a step index would: 2 x the step).
void used_until_survives_a_period_change(void** /*state*/) {
    const auto key = rfc_key();
    const TotpParams p15{Algorithm::sha1, 6, 15};
    const TotpParams p30{Algorithm::sha1, 6, 30};
    const std::time_t t = 1700000010;  // on a 30 s boundary (and a 15 s one)
    const auto code15 = code_at(key, p15, t);
    auto v = pam_totp::totp_verify(key, p15, code15, t, 0, 0);
    assert_int_equal(v.value().outcome, TotpOutcome::accepted);
    const std::time_t used = pam_totp::step_end(v.value().step, 15);  // t + 15
    // The 30 s step [t, t+30) starts before `used`: refused (a code of it
    // could have been typed in the same moment). The next one is fine.
    assert_int_equal(pam_totp::totp_verify(key, p30, code_at(key, p30, t), t, 0, used).value().outcome,
                     TotpOutcome::replayed);
    const auto next30 = code_at(key, p30, t + 30);
    assert_int_equal(pam_totp::totp_verify(key, p30, next30, t + 30, 0, used).value().outcome, TotpOutcome::accepted);
    // And back: the record of a 30 s step refuses the 15 s steps inside it.
    const std::time_t used30 = pam_totp::step_end(pam_totp::time_step(t, 30), 30);  // t + 30
    assert_int_equal(pam_totp::totp_verify(key, p15, code_at(key, p15, t + 15), t + 15, 0, used30).value().outcome,
                     TotpOutcome::replayed);
    assert_int_equal(pam_totp::totp_verify(key, p15, code_at(key, p15, t + 30), t + 30, 0, used30).value().outcome,
                     TotpOutcome::accepted);
}

void malformed_codes_are_wrong(void** /*state*/) {
    const auto key = rfc_key();
    const TotpParams p;
    const std::time_t now = 1700000000;
    const auto good = code_at(key, p, now);
    const std::string cases[] = {
        "",
        "12345",
        "1234567",
        "abcdef",
        good + " ",
        " " + good,
        good.substr(0, 5) + "\n",
        std::string(300, '1'),
        std::string("12\0"
                    "456",
                    6),
        "+" + good.substr(1),
    };
    for (const auto& c : cases) {
        auto v = pam_totp::totp_verify(key, p, c, now, 1, 0);
        assert_true(v.ok());
        assert_int_equal(v.value().outcome, TotpOutcome::wrong);
    }
}

void eight_digits_sha256_sha512(void** /*state*/) {
    const SecureBuffer key(std::string_view("12345678901234567890123456789012"));
    for (const auto alg : {Algorithm::sha256, Algorithm::sha512}) {
        const TotpParams p{alg, 8, 30};
        const std::time_t now = 1800000000;
        const auto code = code_at(key, p, now);
        assert_int_equal(code.size(), 8);
        assert_int_equal(pam_totp::totp_verify(key, p, code, now, 1, 0).value().outcome, TotpOutcome::accepted);
        // The SHA-1 code for the same key and time is a different code.
        const TotpParams sha1{Algorithm::sha1, 8, 30};
        assert_int_equal(pam_totp::totp_verify(key, sha1, code, now, 0, 0).value().outcome, TotpOutcome::wrong);
    }
}

void other_periods(void** /*state*/) {
    const auto key = rfc_key();
    for (const unsigned period : {15U, 60U, 120U}) {
        const TotpParams p{Algorithm::sha1, 6, period};
        const std::time_t now = 1700000017;
        const auto code = code_at(key, p, now);
        auto v = pam_totp::totp_verify(key, p, code, now, 0, 0);
        assert_int_equal(v.value().outcome, TotpOutcome::accepted);
        assert_int_equal(v.value().step, static_cast<std::uint64_t>(now) / period);
    }
}

void bad_params_refused(void** /*state*/) {
    const auto key = rfc_key();
    assert_false(pam_totp::validate_params(TotpParams{Algorithm::sha1, 7, 30}).ok());
    assert_false(pam_totp::validate_params(TotpParams{Algorithm::sha1, 6, 14}).ok());
    assert_false(pam_totp::validate_params(TotpParams{Algorithm::sha1, 6, 121}).ok());
    assert_true(pam_totp::validate_params(TotpParams{Algorithm::sha512, 8, 120}).ok());
    assert_false(pam_totp::totp_generate(key, TotpParams{Algorithm::sha1, 9, 30}, 0).ok());
    assert_false(pam_totp::totp_verify(key, TotpParams{}, "123456", 0, 11, 0).ok());
}

void algorithm_names(void** /*state*/) {
    for (const auto alg : {Algorithm::sha1, Algorithm::sha256, Algorithm::sha512}) {
        assert_true(pam_totp::parse_algorithm(pam_totp::algorithm_name(alg)) == alg);
    }
    assert_false(pam_totp::parse_algorithm("SHA1").has_value());
    assert_false(pam_totp::parse_algorithm("md5").has_value());
    assert_false(pam_totp::parse_algorithm("").has_value());
}

void base32_round_trip(void** /*state*/) {
    // RFC 4648 section 10: BASE32("foobar") = "MZXW6YTBOI======".
    const SecureBuffer foobar(std::string_view("foobar"));
    auto enc = pam_totp::base32_encode(foobar);
    assert_true(enc.ok());
    assert_true(enc.value().view() == "MZXW6YTBOI");
    auto dec = pam_totp::base32_decode("MZXW6YTBOI======");
    assert_true(dec.ok());
    assert_true(dec.value().view() == "foobar");
    // People type secrets in lower case and in groups of four.
    auto typed = pam_totp::base32_decode("mzxw 6ytb oi");
    assert_true(typed.ok());
    assert_true(typed.value().view() == "foobar");
    const auto key = rfc_key();
    auto back = pam_totp::base32_decode(pam_totp::base32_encode(key).value().view());
    assert_true(back.ok());
    assert_true(back.value().view() == key.view());
}

void base32_rejects_garbage(void** /*state*/) {
    assert_false(pam_totp::base32_decode("").ok());
    assert_false(pam_totp::base32_decode("   ").ok());
    assert_false(pam_totp::base32_decode("MZXW1YTB").ok());  // '1' is not base32
    assert_false(pam_totp::base32_decode("MZXW-YTB").ok());
    assert_false(pam_totp::base32_decode(std::string(2000, 'A')).ok());
    assert_false(pam_totp::base32_encode(SecureBuffer()).ok());
}

// --- resynchronisation and drift (totp-enroll --resync; the module's drift) --------------

// Two consecutive codes of a token whose clock is `ahead` seconds ahead of
// `now`: what its app shows now (step s + 1) and the code before it.
std::pair<std::string, std::string> codes_ahead(const SecureBuffer& key, const TotpParams& p, std::time_t now,
                                                long ahead) {
    const std::time_t shown = now + static_cast<std::time_t>(ahead);
    return {code_at(key, p, shown - static_cast<std::time_t>(p.period)), code_at(key, p, shown)};
}

pam_totp::TotpResync resync_ok(const SecureBuffer& key, const TotpParams& p,
                               const std::pair<std::string, std::string>& c, std::time_t now) {
    auto r = pam_totp::totp_resync(key, p, c.first, c.second, now);
    if (!r.ok()) {
        fail_msg("totp_resync: %s", r.error().message.c_str());
    }
    return r.value();
}

void resync_finds_the_offset(void** /*state*/) {
    const auto key = rfc_key();
    const TotpParams p;
    const std::time_t now = 1800000000;  // a step boundary
    // A clock 90 s fast: three steps ahead; both codes are used up to the
    // end of the second one's step.
    auto r = resync_ok(key, p, codes_ahead(key, p, now, 90), now);
    assert_int_equal(r.offset, 90);
    assert_int_equal(r.used_until, pam_totp::step_end(pam_totp::time_step(now + 90, 30), 30));
    assert_int_equal(r.used_until, now + 120);
    // 120 s slow.
    r = resync_ok(key, p, codes_ahead(key, p, now, -120), now);
    assert_int_equal(r.offset, -120);
    assert_int_equal(r.used_until, now - 90);
    // On time.
    r = resync_ok(key, p, codes_ahead(key, p, now, 0), now);
    assert_int_equal(r.offset, 0);
    assert_int_equal(r.used_until, now + 30);
    // The bound itself, both ways.
    assert_int_equal(resync_ok(key, p, codes_ahead(key, p, now, 300), now).offset, 300);
    assert_int_equal(resync_ok(key, p, codes_ahead(key, p, now, -300), now).offset, -300);
    // Mid-step: the offset is in whole steps, measured from the step of now.
    const std::time_t mid = now + 17;
    r = resync_ok(key, p, codes_ahead(key, p, mid, 60), mid);
    assert_int_equal(r.offset, 60);
    assert_int_equal(r.used_until, now + 90);
    // Another period: 60 s steps, five of them ahead.
    const TotpParams p60{Algorithm::sha1, 6, 60};
    r = resync_ok(key, p60, codes_ahead(key, p60, now, 300), now);
    assert_int_equal(r.offset, 300);
    assert_int_equal(r.used_until, now + 360);
}

void resync_refusals(void** /*state*/) {
    const auto key = rfc_key();
    const TotpParams p;
    const std::time_t now = 1800000000;
    const auto not_found = [&](const std::pair<std::string, std::string>& c) {
        auto r = pam_totp::totp_resync(key, p, c.first, c.second, now);
        assert_false(r.ok());
        assert_int_equal(r.error().code, pam_totp::Errc::not_found);
        if (r.error().message != "no two consecutive codes match within 300 seconds of this machine's clock") {
            fail_msg("unexpected message: \"%s\"", r.error().message.c_str());
        }
    };
    // Beyond max_clock_offset, either way.
    not_found(codes_ahead(key, p, now, 330));
    not_found(codes_ahead(key, p, now, -330));
    not_found(codes_ahead(key, p, now, 3600));
    // Not consecutive (a step skipped), or in the wrong order.
    not_found({code_at(key, p, now + 30), code_at(key, p, now + 90)});
    not_found({code_at(key, p, now + 60), code_at(key, p, now + 30)});
    // The same code twice.
    not_found({code_at(key, p, now), code_at(key, p, now)});
    // Malformed codes: a usage error, naming the length, not the codes.
    const std::string good = code_at(key, p, now);
    for (const auto& [a, b] :
         {std::pair<std::string, std::string>{"12345", good}, {good, "abcdef"}, {good, good + "0"}, {"", ""}}) {
        auto r = pam_totp::totp_resync(key, p, a, b, now);
        assert_false(r.ok());
        assert_int_equal(r.error().code, pam_totp::Errc::invalid_argument);
        assert_true(r.error().message.find("each code must be 6 digits") != std::string::npos);
        assert_true(r.error().message.find(good) == std::string::npos);
    }
    // Bad parameters.
    assert_false(pam_totp::totp_resync(key, TotpParams{Algorithm::sha1, 7, 30}, good, good, now).ok());
    // A clock before the window can reach back.
    assert_false(pam_totp::totp_resync(key, p, good, good, 100).ok());
}

void recentred_offset_is_bounded(void** /*state*/) {  // and moves one step at a time
    const std::uint64_t c = 60000000;
    assert_int_equal(pam_totp::recentred_offset(0, c, c, 30), 0);
    assert_int_equal(pam_totp::recentred_offset(0, c + 1, c, 30), 30);
    assert_int_equal(pam_totp::recentred_offset(0, c - 1, c, 30), -30);
    assert_int_equal(pam_totp::recentred_offset(60, c + 1, c, 30), 90);
    assert_int_equal(pam_totp::recentred_offset(60, c - 1, c, 30), 30);
    // One step at a time, however far off the code was.
    assert_int_equal(pam_totp::recentred_offset(-90, c - 2, c, 30), -120);
    assert_int_equal(pam_totp::recentred_offset(0, c + 2, c, 30), 30);
    assert_int_equal(pam_totp::recentred_offset(90, c, c, 30), 90);  // centred: unchanged
    // Bounded at +-max_clock_offset, whatever the step.
    assert_int_equal(pam_totp::max_clock_offset, 300);
    assert_int_equal(pam_totp::recentred_offset(290, c + 1, c, 30), 300);
    assert_int_equal(pam_totp::recentred_offset(300, c + 10, c, 30), 300);
    assert_int_equal(pam_totp::recentred_offset(-290, c - 1, c, 30), -300);
    assert_int_equal(pam_totp::recentred_offset(-300, c - 10, c, 30), -300);
    assert_int_equal(pam_totp::recentred_offset(0, c + 3, c, 120), 120);
    assert_int_equal(pam_totp::recentred_offset(0, c - 3, c, 120), -120);
    assert_int_equal(pam_totp::recentred_offset(240, c + 1, c, 120), 300);
    // A step far from the centre (as step arithmetic would give it): one step still.
    assert_int_equal(pam_totp::recentred_offset(0, c + 1000000, c, 120), 120);
    assert_int_equal(pam_totp::recentred_offset(0, c - 1000000, c, 120), -120);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc6238_appendix_b),
        cmocka_unit_test(rfc4226_appendix_d),
        cmocka_unit_test(time_step_follows_rfc),
        cmocka_unit_test(current_code_accepted_with_step),
        cmocka_unit_test(window_bounds),
        cmocka_unit_test(replay_refused),
        cmocka_unit_test(step_and_window_ends),
        cmocka_unit_test(used_until_survives_a_period_change),
        cmocka_unit_test(malformed_codes_are_wrong),
        cmocka_unit_test(eight_digits_sha256_sha512),
        cmocka_unit_test(other_periods),
        cmocka_unit_test(bad_params_refused),
        cmocka_unit_test(algorithm_names),
        cmocka_unit_test(base32_round_trip),
        cmocka_unit_test(base32_rejects_garbage),
        cmocka_unit_test(resync_finds_the_offset),
        cmocka_unit_test(resync_refusals),
        cmocka_unit_test(recentred_offset_is_bounded),
    };
    return cmocka_run_group_tests_name("totp", tests, nullptr, nullptr);
}
