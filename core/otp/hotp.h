// HOTP (RFC 4226) on top of liboath: counter-based codes for hardware
// tokens (YubiKey OATH-HOTP, Feitian), with a bounded look-ahead, the
// counter moving past the accepted value only, and resynchronisation from
// two consecutive codes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/otp/recovery.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

// How far ahead of the expected counter a login looks (hotp_window=), and
// how far totp-enroll --resync searches: a token pressed this often without
// a login needs a resync.
inline constexpr unsigned default_hotp_window = 10;
inline constexpr unsigned max_hotp_window = 100;
inline constexpr std::uint64_t max_hotp_resync = 10000;
// The counter never reaches the top of its range: step arithmetic stays
// exact. The state holds counters up to max_hotp_counter; a secret file's
// counter leaves room for the widest look-ahead and the step past it, so
// that nothing a login writes is beyond what the state reads back.
inline constexpr std::uint64_t max_hotp_counter = std::uint64_t{1} << 62;
inline constexpr std::uint64_t max_file_hotp_counter = max_hotp_counter - max_hotp_window - 1;

// The code for `counter` (RFC 4226 section 5.3), `digits` (6 or 8) long.
// HOTP is HMAC-SHA-1 by definition (RFC 4226 section 5.2).
Result<SecureBuffer> hotp_generate(const SecureBuffer& key, unsigned digits, std::uint64_t counter);

enum class HotpOutcome {
    accepted,  // `counter` holds the matched counter value
    wrong,     // no counter in next .. next + window matches
    replayed,  // matches next - 1, the last counter accepted
};

struct HotpVerdict {
    HotpOutcome outcome = HotpOutcome::wrong;
    std::uint64_t counter = 0;
};

// Verifies `code` against the counters `next` .. `next` + `window` (RFC
// 4226 section 7.4: the look-ahead parameter s; the verifier then moves
// past the accepted value only, section 7.2), in constant time per
// comparison. A code that is not exactly `digits` ASCII
// digits is `wrong` without any HMAC computed.
Result<HotpVerdict> hotp_verify(const SecureBuffer& key, unsigned digits, std::string_view code, std::uint64_t next,
                                unsigned window);

// What an attempt checked against an HOTP token records before its answer
// is looked at (core/store/records.h): a keyed tag of the code, so that a
// login that died unsettled can be settled exactly, by finding the counter
// the code matched (none: nothing was used).
RecoveryTag hotp_code_tag(const SecureBuffer& key, std::string_view code);

// The counter in `first` .. `last` whose code has `tag`; nullopt when none.
Result<std::optional<std::uint64_t>> hotp_find_tagged(const SecureBuffer& key, unsigned digits, const RecoveryTag& tag,
                                                      std::uint64_t first, std::uint64_t last);

// Resynchronisation (totp-enroll --resync): the first counter c in
// `from` .. `from` + `span` whose code is `code1` while c + 1's is `code2`;
// returns c + 2, the next counter to accept. Errc::not_found when none.
Result<std::uint64_t> hotp_resync(const SecureBuffer& key, unsigned digits, std::string_view code1,
                                  std::string_view code2, std::uint64_t from, std::uint64_t span);

}  // namespace pam_totp
