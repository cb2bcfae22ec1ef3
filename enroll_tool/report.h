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

// QR code, URI, the secret in groups of four, and warnings about
// non-default parameters. Holds the secret, hence a SecureBuffer.
pam_totp::SecureBuffer enrollment_intro(const std::string& user, const pam_totp::SecureBuffer& qr,
                                        const pam_totp::SecureBuffer& uri, const pam_totp::SecureBuffer& key,
                                        const pam_totp::TotpParams& params);

std::string wrong_code_hint(const pam_totp::TotpParams& params, int tries_left);

pam_totp::SecureBuffer recovery_box(const std::vector<pam_totp::SecureBuffer>& codes);

std::string status_text(const std::string& user, const std::string& path,
                        const std::optional<pam_totp::SecretFile>& file, std::optional<std::size_t> recovery_left);
std::string status_json(const std::string& user, const std::string& path,
                        const std::optional<pam_totp::SecretFile>& file, std::optional<std::size_t> recovery_left);

}  // namespace totp_enroll
