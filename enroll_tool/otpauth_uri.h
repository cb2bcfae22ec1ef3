// The otpauth:// URI that authenticator apps scan (Google's Key Uri Format):
//   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER
//   [&algorithm=SHA256|SHA512][&digits=8][&period=N]
//   otpauth://hotp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER[&digits=8]&counter=N
// The parameters appear only when not the defaults (SHA1, 6, 30), since some
// apps reject or ignore what they do not know; an HOTP URI always carries
// its counter (the format requires it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/otp/totp.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

// Issuer and account: 1..128 printable characters, no ':' (the label's
// separator), checked here so a bad --issuer or --label gets a clear error.
Status validate_label_part(std::string_view what, std::string_view text);

// The URI; it holds the secret, so it lives in a SecureBuffer.
Result<SecureBuffer> make_otpauth_uri(std::string_view issuer, std::string_view account, const SecureBuffer& key,
                                      const TotpParams& params);

// The URI of an HOTP token (RFC 4226: SHA1 always) whose next code is
// that of `counter`.
Result<SecureBuffer> make_otpauth_hotp_uri(std::string_view issuer, std::string_view account, const SecureBuffer& key,
                                           unsigned digits, std::uint64_t counter);

// RFC 3986 section 2.1 percent-encoding of everything but unreserved characters.
std::string percent_encode(std::string_view text);

}  // namespace pam_totp
