#include "core/otp/hotp.h"

#include <liboath/oath.h>

#include <algorithm>
#include <string>

#include "core/util/hash.h"
#include "core/util/text.h"

namespace pam_totp {
namespace {

// liboath hands us each candidate OTP; 0 only for an exact match, compared
// in constant time (as for TOTP, core/otp/totp.cpp).
int compare_code(void* handle, const char* candidate) {
    const auto* typed = static_cast<const std::string_view*>(handle);
    return constant_time_equal(*typed, candidate) ? 0 : 1;
}

std::string digits_problem_of(unsigned digits) {
    return digits == 6 || digits == 8 ? std::string() : std::string("HOTP codes must be 6 or 8 digits");
}

bool well_formed(std::string_view code, unsigned digits) {
    return code.size() == digits && all_digits(code);
}

}  // namespace

Result<SecureBuffer> hotp_generate(const SecureBuffer& key, unsigned digits, std::uint64_t counter) {
    if (std::string problem = digits_problem_of(digits); !problem.empty()) {
        return make_error(Errc::invalid_argument, problem);
    }
    ::oath_init();
    SecureBuffer out(digits + 1);  // liboath writes a NUL terminator
    const int rc = ::oath_hotp_generate(key.chars(), key.size(), counter, digits, false, OATH_HOTP_DYNAMIC_TRUNCATION,
                                        reinterpret_cast<char*>(out.data()));
    if (rc != OATH_OK) {
        return make_error(Errc::invalid_argument, std::string("oath_hotp_generate: ") + ::oath_strerror(rc));
    }
    out.truncate(digits);
    return out;
}

Result<HotpVerdict> hotp_verify(const SecureBuffer& key, unsigned digits, std::string_view code, std::uint64_t next,
                                unsigned window) {
    if (std::string problem = digits_problem_of(digits); !problem.empty()) {
        return make_error(Errc::invalid_argument, problem);
    }
    if (window > max_hotp_window || next > max_hotp_counter - window - 1) {
        return make_error(Errc::invalid_argument, "HOTP look-ahead or counter out of range");
    }
    HotpVerdict verdict;
    // Anything but exactly `digits` ASCII digits can never match: no HMAC spent on it.
    if (!well_formed(code, digits)) {
        return verdict;
    }
    ::oath_init();
    const int rc = ::oath_hotp_validate_callback(key.chars(), key.size(), next, window, digits, compare_code, &code);
    if (rc >= 0) {
        verdict.outcome = HotpOutcome::accepted;
        verdict.counter = next + static_cast<std::uint64_t>(rc);
        return verdict;
    }
    if (rc != OATH_INVALID_OTP) {
        return make_error(Errc::invalid_argument, std::string("oath_hotp_validate_callback: ") + ::oath_strerror(rc));
    }
    // Only to say "already used" rather than "wrong": the last accepted code.
    if (next > 0) {
        const int last =
            ::oath_hotp_validate_callback(key.chars(), key.size(), next - 1, 0, digits, compare_code, &code);
        if (last >= 0) {
            verdict.outcome = HotpOutcome::replayed;
            verdict.counter = next - 1;
        }
    }
    return verdict;
}

RecoveryTag hotp_code_tag(const SecureBuffer& key, std::string_view code) {
    static constexpr std::string_view label{"pam_totp hotp attempt v1\0", 25};
    const Sha256Digest mac = hmac_sha256({key.data(), key.size()}, {bytes_of(label), bytes_of(code)});
    RecoveryTag tag;
    std::copy_n(mac.begin(), tag.bytes.size(), tag.bytes.begin());
    return tag;
}

Result<std::optional<std::uint64_t>> hotp_find_tagged(const SecureBuffer& key, unsigned digits, const RecoveryTag& tag,
                                                      std::uint64_t first, std::uint64_t last) {
    if (last < first || last > max_hotp_counter || last - first > max_hotp_resync) {
        return make_error(Errc::invalid_argument, "HOTP counter range out of bounds");
    }
    for (std::uint64_t c = first; c <= last; ++c) {
        Result<SecureBuffer> code = hotp_generate(key, digits, c);
        if (!code) {
            return std::move(code).error();
        }
        if (hotp_code_tag(key, code.value().view()) == tag) {
            return std::optional<std::uint64_t>(c);
        }
    }
    return std::optional<std::uint64_t>();
}

Result<std::uint64_t> hotp_resync(const SecureBuffer& key, unsigned digits, std::string_view code1,
                                  std::string_view code2, std::uint64_t from, std::uint64_t span) {
    if (std::string problem = digits_problem_of(digits); !problem.empty()) {
        return make_error(Errc::invalid_argument, problem);
    }
    if (!well_formed(code1, digits) || !well_formed(code2, digits)) {
        return make_error(Errc::invalid_argument, "each code must be " + std::to_string(digits) + " digits");
    }
    if (span > max_hotp_resync || from > max_hotp_counter - span) {
        return make_error(Errc::invalid_argument, "HOTP resync range out of bounds");
    }
    ::oath_init();
    std::uint64_t c = from;
    while (c <= from + span) {
        const int rc = ::oath_hotp_validate_callback(
            key.chars(), key.size(), c, static_cast<std::size_t>(from + span - c), digits, compare_code, &code1);
        if (rc == OATH_INVALID_OTP) {
            break;
        }
        if (rc < 0) {
            return make_error(Errc::invalid_argument,
                              std::string("oath_hotp_validate_callback: ") + ::oath_strerror(rc));
        }
        const std::uint64_t found = c + static_cast<std::uint64_t>(rc);
        if (::oath_hotp_validate_callback(key.chars(), key.size(), found + 1, 0, digits, compare_code, &code2) >= 0) {
            return found + 2;
        }
        c = found + 1;  // a 6-digit code repeats now and then: look on
    }
    return make_error(Errc::not_found, "no two consecutive codes of the token match within " + std::to_string(span) +
                                           " counter values of " + std::to_string(from));
}

}  // namespace pam_totp
