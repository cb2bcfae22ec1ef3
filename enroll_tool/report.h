// What totp-enroll prints: the enrollment screen, hints, the recovery-code
// box and the status (text and JSON).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/files/secret_file.h"
#include "core/otp/totp.h"
#include "core/util/secure_buffer.h"

namespace totp_enroll {

// `heading`, the QR code, URI, the secret in groups of four, and warnings
// about non-default parameters. Holds the secret, hence a SecureBuffer.
pam_totp::SecureBuffer enrollment_intro(const std::string& heading, const pam_totp::SecureBuffer& qr,
                                        const pam_totp::SecureBuffer& uri, const pam_totp::TokenEntry& token);

// "SHA1, 6 digits, 30-second period" or "HOTP, SHA1, 6 digits".
std::string describe_token(const pam_totp::TokenEntry& token);

// After a wrong confirmation code; `from_token`: a hardware token's
// secret (--secret-from), not one just shown for an app.
std::string wrong_code_hint(const pam_totp::TokenEntry& token, bool from_token, int tries_left);

// "+90 s", "-30 s", "0 s": a TOTP token's clock offset.
std::string offset_text(long offset);

// totp-enroll --list: a table, or one JSON object (totp-enroll(1)).
std::string list_text(const std::string& user, const std::string& path,
                      const std::optional<pam_totp::SecretFile>& file);
std::string list_json(const std::string& user, const std::string& path,
                      const std::optional<pam_totp::SecretFile>& file);

// "phone, backup-phone": the names of the file's tokens.
std::string token_names(const pam_totp::SecretFile& file);

pam_totp::SecureBuffer recovery_box(const std::vector<pam_totp::SecureBuffer>& codes);

std::string status_text(const std::string& user, const std::string& path,
                        const std::optional<pam_totp::SecretFile>& file, std::optional<std::size_t> recovery_left);
std::string status_json(const std::string& user, const std::string& path,
                        const std::optional<pam_totp::SecretFile>& file, std::optional<std::size_t> recovery_left);

}  // namespace totp_enroll
