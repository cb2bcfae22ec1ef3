// TOTP (RFC 6238) on top of liboath: parameters, code generation and
// verification with replay refusal.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

enum class Algorithm { sha1, sha256, sha512 };

std::string_view algorithm_name(Algorithm alg) noexcept;          // "sha1", ...
std::optional<Algorithm> parse_algorithm(std::string_view name);  // exact, lower case

struct TotpParams {
    Algorithm algorithm = Algorithm::sha1;
    unsigned digits = 6;   // 6 or 8
    unsigned period = 30;  // seconds, 15..120
};

inline constexpr unsigned min_period = 15;
inline constexpr unsigned max_period = 120;
inline constexpr unsigned max_window = 10;

// The one validator of TOTP parameters (secret file, totp-enroll's
// options, the imports, this file): each returns the problem in words
// naming the limits ("period must be 15 to 120 seconds"), empty when fine.
std::string digits_problem(unsigned digits);
std::string period_problem(unsigned period);
std::string window_problem(unsigned window);

// The first of the problems above in `params`, as Errc::invalid_argument.
Status validate_params(const TotpParams& params);

// The code for time `now` (RFC 6238 section 4.2), `params.digits` long.
Result<SecureBuffer> totp_generate(const SecureBuffer& key, const TotpParams& params, std::time_t now);

// The absolute time step T (RFC 6238 section 4.2) that `now` falls in.
std::uint64_t time_step(std::time_t now, unsigned period) noexcept;

// When the time step T of `period` seconds ends (Unix time): codes are
// remembered as used up to this instant, in absolute time, so a record
// stays right when the period changes (RFC 6238 section 4.2, T0 = 0).
std::time_t step_end(std::uint64_t step, unsigned period) noexcept;

// The end of the last time step a code typed at `now` could match with
// `window` steps of tolerance: how long an attempt whose outcome is unknown
// (the process was killed) blocks the token.
std::time_t window_end(std::time_t now, unsigned period, unsigned window) noexcept;

enum class TotpOutcome {
    accepted,  // `step` holds the matched absolute time step
    wrong,     // no step within the window matches
    replayed,  // matches a step that starts before `used_until`
};

struct TotpVerdict {
    TotpOutcome outcome = TotpOutcome::wrong;
    std::uint64_t step = 0;
};

// Verifies `code` against the steps within +-`window` of `now`, comparing in
// constant time. A code that is not exactly `params.digits` ASCII digits is
// `wrong` without any HMAC computed. A match at a step that starts before
// `used_until` (Unix time: the end of the last accepted step) is `replayed`
// (RFC 6238 section 5.2: a verifier MUST NOT accept the second attempt of
// the same OTP, nor, here, one of an earlier step).
Result<TotpVerdict> totp_verify(const SecureBuffer& key, const TotpParams& params, std::string_view code,
                                std::time_t now, unsigned window, std::time_t used_until);

// The largest clock offset a TOTP token may have (pam_totp-secret(5),
// `offset`; the drift the module records): five minutes either way.
inline constexpr long max_clock_offset = 300;

// Where a token's clock stands, from two consecutive codes typed now
// (totp-enroll --resync).
struct TotpResync {
    long offset = 0;             // seconds the token's clock is ahead (a multiple of the period)
    std::time_t used_until = 0;  // the end of the second code's step: both codes are used
};

// Resynchronisation: the time step s within `max_clock_offset` of `now`
// (the closest to now first) whose code is `code1` while s + 1's is
// `code2`; the app shows s + 1 now. Errc::not_found when none.
Result<TotpResync> totp_resync(const SecureBuffer& key, const TotpParams& params, std::string_view code1,
                               std::string_view code2, std::time_t now);

// The drift the module records when a code is accepted at `step` while
// the window was centred on `centre` with the token's clock `offset`
// seconds ahead: the centre moves one step towards `step` (never more, so
// a code typed late, or accepted by a service with a wider window, cannot
// pull the centre so far that the current code falls out of a narrower
// window; a real clock drifts by seconds a month), bounded by
// max_clock_offset.
long recentred_offset(long offset, std::uint64_t step, std::uint64_t centre, unsigned period) noexcept;

// Base32 (RFC 4648 section 6) through liboath. Decoding accepts upper or
// lower case, ignores spaces, and refuses anything else.
Result<SecureBuffer> base32_decode(std::string_view text);
Result<SecureBuffer> base32_encode(const SecureBuffer& key);  // upper case, no padding

}  // namespace pam_totp
