#include "core/otp/totp.h"

#include <liboath/oath.h>
#include <string.h>  // explicit_bzero

#include <cstdlib>

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

bool all_digits(std::string_view s) noexcept {
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

// liboath hands us each candidate OTP; we answer 0 only for an exact match.
// constant_time_equal keeps the comparison's timing independent of how many
// leading digits a guess got right.
int compare_code(void* handle, const char* candidate) {
    const auto* typed = static_cast<const std::string_view*>(handle);
    return constant_time_equal(*typed, candidate) ? 0 : 1;
}

// Frees memory liboath allocated for a secret, wiping it first.
void wipe_free(char* p, std::size_t n) noexcept {
    if (p != nullptr) {
        ::explicit_bzero(p, n);
        std::free(p);  // NOLINT(cppcoreguidelines-no-malloc): liboath allocates with malloc
    }
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

Status validate_params(const TotpParams& params) {
    if (params.digits != 6 && params.digits != 8) {
        return make_error(Errc::invalid_argument, "digits must be 6 or 8");
    }
    if (params.period < min_period || params.period > max_period) {
        return make_error(Errc::invalid_argument, "period must be between 15 and 120 seconds");
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
                                std::time_t now, unsigned window, std::optional<std::uint64_t> last_step) {
    if (Status st = validate_params(params); !st) {
        return st.error();
    }
    if (window > max_window) {
        return make_error(Errc::invalid_argument, "window must be at most 10 steps");
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
    // the same OTP; nor an older one once a newer step has been used.
    verdict.outcome = (last_step && counter <= *last_step) ? TotpOutcome::replayed : TotpOutcome::accepted;
    return verdict;
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
