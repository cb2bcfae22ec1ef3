// What the user typed, taken apart: the code (or recovery code) and, with
// forward_pass or a PAM_AUTHTOK carrying password+code, the password in
// front of it.
#pragma once

#include <cstddef>
#include <optional>

#include "core/util/secure_buffer.h"

namespace pam_totp {

// Longer answers are not looked at: no code or password+code is this long.
inline constexpr std::size_t max_answer = 1024;

struct Answer {
    SecureBuffer code;
    std::optional<SecureBuffer> password;
};

// password+code: the last `digits` characters when they are digits, else a
// printed recovery code ("XXXX-XXXX-XXXX") at the end, else (a bare
// recovery code) the whole; nullopt when none of these fits.
std::optional<Answer> split_answer(const SecureBuffer& typed, unsigned digits, bool allow_recovery);

enum class AnswerShape {
    totp,      // `digits` ASCII digits: only ever reaches the HMAC
    recovery,  // could be a recovery code (and recovery codes are allowed)
    other,     // neither: a wrong code, with nothing to compute
};

AnswerShape shape_of(const SecureBuffer& code, unsigned digits, bool allow_recovery) noexcept;

}  // namespace pam_totp
