// An existing secret as people and tools write it down, for
// `totp-enroll --secret-from` and the pam_oath import: base32 (RFC 4648
// section 6: ykman, google-authenticator, otpauth URIs) or hex
// (ykpersonalize, pam_oath's usersfile).
#pragma once

#include <string_view>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

// Hex digits, either case, an even number of them, nothing else.
// Errc::format; the message never quotes the text.
Result<SecureBuffer> hex_decode(std::string_view text);

// One secret: surrounding white space and a final newline are dropped,
// spaces inside (groups of four) ignored, trailing '=' padding too. An
// optional "base32:" or "hex:" in front says which; without it, the text
// must read as exactly one of them (one that reads as both is refused and
// the message says to add the prefix). The key must be 80 to 1024 bits.
// Errc::format with what to do; the message never quotes the text.
Result<SecureBuffer> decode_secret_text(std::string_view text);

}  // namespace pam_totp
