#include "core/otp/totp.h"

#include <liboath/oath.h>
#include <string.h>  // explicit_bzero

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "core/util/text.h"

namespace pam_totp {
namespace {

constexpr std::size_t max_base32_input = 1024;

int oath_flags(Algorithm alg) noexcept {
    switch (alg) {
        case Algorithm::sha256:
            return OATH_TOTP_HMAC_SHA256;
        case Algorithm::sha512:
            return OATH_TOTP_HMAC_SHA512;
        case Algorithm::sha1:
            break;
    }
    return 0;
}

// liboath hands us each candidate OTP; we answer 0 only for an exact match.
// constant_time_equal keeps the comparison's timing independent of how many
// leading digits a guess got right.
int compare_code(void* handle, const char* candidate) {
    const auto* typed = static_cast<const std::string_view*>(handle);
    return constant_time_equal(*typed, candidate) ? 0 : 1;
}

std::string oath_message(const char* what, int rc) {
    return std::string(what) + ": " + ::oath_strerror(rc);
}

}  // namespace

std::string_view algorithm_name(Algorithm alg) noexcept {
    switch (alg) {
        case Algorithm::sha256:
            return "sha256";
        case Algorithm::sha512:
            return "sha512";
        case Algorithm::sha1:
            break;
    }
    return "sha1";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
    if (name == "sha1") {
        return Algorithm::sha1;
    }
    if (name == "sha256") {
        return Algorithm::sha256;
    }
    if (name == "sha512") {
        return Algorithm::sha512;
    }
    return std::nullopt;
}

std::string digits_problem(unsigned digits) {
    return digits == 6 || digits == 8 ? std::string() : std::string("digits must be 6 or 8");
}

std::string period_problem(unsigned period) {
    if (period < min_period || period > max_period) {
        return "period must be " + std::to_string(min_period) + " to " + std::to_string(max_period) + " seconds";
    }
    return {};
}

std::string window_problem(unsigned window) {
    return window <= max_window ? std::string() : "window must be 0 to " + std::to_string(max_window) + " steps";
}

Status validate_params(const TotpParams& params) {
    std::string problem = digits_problem(params.digits);
    if (problem.empty()) {
        problem = period_problem(params.period);
    }
    if (!problem.empty()) {
        return make_error(Errc::invalid_argument, problem);
    }
    return {};
}

std::uint64_t time_step(std::time_t now, unsigned period) noexcept {
    // RFC 6238 section 4.2: T = floor((Current Unix time - T0) / X), T0 = 0.
    if (now < 0 || period == 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(now) / period;
}

std::time_t step_end(std::uint64_t step, unsigned period) noexcept {
    std::uint64_t end = 0;
    if (step == std::numeric_limits<std::uint64_t>::max() ||
        __builtin_mul_overflow(step + 1, static_cast<std::uint64_t>(period), &end) ||
        end > static_cast<std::uint64_t>(std::numeric_limits<std::time_t>::max())) {
        return std::numeric_limits<std::time_t>::max();
    }
    return static_cast<std::time_t>(end);
}

std::time_t window_end(std::time_t now, unsigned period, unsigned window) noexcept {
    return step_end(time_step(now, period) + window, period);
}

Result<SecureBuffer> totp_generate(const SecureBuffer& key, const TotpParams& params, std::time_t now) {
    if (Status st = validate_params(params); !st) {
        return st.error();
    }
    ::oath_init();
    SecureBuffer out(params.digits + 1);  // liboath writes a NUL terminator
    const int rc =
        ::oath_totp_generate2(key.chars(), key.size(), now, params.period, OATH_TOTP_DEFAULT_START_TIME, params.digits,
                              oath_flags(params.algorithm), reinterpret_cast<char*>(out.data()));
    if (rc != OATH_OK) {
        return make_error(Errc::invalid_argument, oath_message("oath_totp_generate2", rc));
    }
    out.truncate(params.digits);
    return out;
}

Result<TotpVerdict> totp_verify(const SecureBuffer& key, const TotpParams& params, std::string_view code,
                                std::time_t now, unsigned window, std::time_t used_until) {
    if (Status st = validate_params(params); !st) {
        return st.error();
    }
    if (std::string problem = window_problem(window); !problem.empty()) {
        return make_error(Errc::invalid_argument, problem);
    }
    TotpVerdict verdict;
    // Anything but exactly `digits` ASCII digits can never match: no HMAC spent on it.
    if (code.size() != params.digits || !all_digits(code)) {
        return verdict;
    }
    ::oath_init();
    int pos = 0;
    std::uint64_t counter = 0;
    const int rc = ::oath_totp_validate4_callback(key.chars(), key.size(), now, params.period,
                                                  OATH_TOTP_DEFAULT_START_TIME, params.digits, window, &pos, &counter,
                                                  oath_flags(params.algorithm), compare_code, &code);
    if (rc == OATH_INVALID_OTP) {
        return verdict;
    }
    if (rc < 0) {
        return make_error(Errc::invalid_argument, oath_message("oath_totp_validate4_callback", rc));
    }
    verdict.step = counter;
    // RFC 6238 section 5.2: the verifier MUST NOT accept the second attempt of
    // the same OTP; nor an older one once a newer step has been used. In
    // absolute time: a step that starts before the end of the last one used.
    const bool used = step_end(counter, params.period) - static_cast<std::time_t>(params.period) < used_until;
    verdict.outcome = used ? TotpOutcome::replayed : TotpOutcome::accepted;
    return verdict;
}

Result<TotpResync> totp_resync(const SecureBuffer& key, const TotpParams& params, std::string_view code1,
                               std::string_view code2, std::time_t now) {
    if (Status st = validate_params(params); !st) {
        return st.error();
    }
    if (code1.size() != params.digits || !all_digits(code1) || code2.size() != params.digits || !all_digits(code2)) {
        return make_error(Errc::invalid_argument, "each code must be " + std::to_string(params.digits) + " digits");
    }
    if (now < max_clock_offset + static_cast<std::time_t>(params.period)) {
        return make_error(Errc::invalid_argument, "the clock is before 1970");
    }
    const auto reach = static_cast<std::int64_t>(max_clock_offset / static_cast<long>(params.period));
    const std::uint64_t centre = time_step(now, params.period);
    // Closest to now first: 0, -1, +1, -2, +2, ... for the step of code2.
    for (std::int64_t i = 0; i <= 2 * reach; ++i) {
        const std::int64_t delta = (i % 2 == 0) ? -(i / 2) : (i + 1) / 2;
        const std::uint64_t second = centre + static_cast<std::uint64_t>(delta);
        const auto at = [&](std::uint64_t step) { return static_cast<std::time_t>(step * params.period); };
        Result<TotpVerdict> v2 = totp_verify(key, params, code2, at(second), 0, 0);
        if (!v2) {
            return std::move(v2).error();
        }
        if (v2.value().outcome != TotpOutcome::accepted) {
            continue;
        }
        Result<TotpVerdict> v1 = totp_verify(key, params, code1, at(second - 1), 0, 0);
        if (!v1) {
            return std::move(v1).error();
        }
        if (v1.value().outcome == TotpOutcome::accepted) {
            return TotpResync{static_cast<long>(delta) * static_cast<long>(params.period),
                              step_end(second, params.period)};
        }
    }
    return make_error(Errc::not_found, "no two consecutive codes match within " + std::to_string(max_clock_offset) +
                                           " seconds of this machine's clock");
}

long recentred_offset(long offset, std::uint64_t step, std::uint64_t centre, unsigned period) noexcept {
    const long one = static_cast<long>(period);
    const long shift = step > centre ? one : step < centre ? -one : 0;
    return std::clamp(offset + shift, -max_clock_offset, max_clock_offset);
}

Result<SecureBuffer> base32_decode(std::string_view text) {
    if (text.size() > max_base32_input) {
        return make_error(Errc::format, "base32 text too long");
    }
    // Canonical form for liboath: upper case, no spaces (people copy secrets
    // in groups of four).
    SecureBuffer canonical;
    for (const char c : text) {
        if (c == ' ') {
            continue;
        }
        const char up = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
        const bool valid = (up >= 'A' && up <= 'Z') || (up >= '2' && up <= '7') || up == '=';
        if (!valid) {
            return make_error(Errc::format, "not base32 (RFC 4648: A-Z and 2-7)");
        }
        canonical.append(&up, 1);
    }
    if (canonical.empty()) {
        return make_error(Errc::format, "empty base32 text");
    }
    char* out = nullptr;
    std::size_t out_len = 0;
    const int rc = ::oath_base32_decode(canonical.chars(), canonical.size(), &out, &out_len);
    if (rc != OATH_OK) {
        wipe_free(out, out_len);
        return make_error(Errc::format, "not valid base32 (RFC 4648 section 6)");
    }
    SecureBuffer key(out, out_len);
    wipe_free(out, out_len);
    return key;
}

Result<SecureBuffer> base32_encode(const SecureBuffer& key) {
    if (key.empty()) {
        return make_error(Errc::invalid_argument, "empty key");
    }
    char* out = nullptr;
    std::size_t out_len = 0;
    const int rc = ::oath_base32_encode(key.chars(), key.size(), &out, &out_len);
    if (rc != OATH_OK || out == nullptr) {
        wipe_free(out, out_len);
        return make_error(Errc::io, oath_message("oath_base32_encode", rc));
    }
    // Authenticator apps and otpauth URIs use base32 without '=' padding.
    std::size_t len = out_len;
    while (len > 0 && out[len - 1] == '=') {
        --len;
    }
    SecureBuffer text(out, len);
    wipe_free(out, out_len);
    return text;
}

}  // namespace pam_totp
