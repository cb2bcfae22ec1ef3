#include "core/login/answer.h"

#include <string_view>

#include "core/otp/recovery.h"
#include "core/util/text.h"

namespace pam_totp {

namespace {
// A recovery code as printed, "XXXX-XXXX-XXXX", when it ends a password.
constexpr std::size_t printed_recovery_length = recovery_code_chars + 2;
}  // namespace

std::optional<Answer> split_answer(const SecureBuffer& typed, unsigned digits, bool allow_recovery) {
    const std::string_view text = typed.view();
    if (text.size() >= digits && all_digits(text.substr(text.size() - digits))) {
        const std::size_t cut = text.size() - digits;
        return Answer{SecureBuffer(text.substr(cut)), SecureBuffer(text.substr(0, cut))};
    }
    if (allow_recovery && text.size() >= printed_recovery_length) {
        const std::size_t cut = text.size() - printed_recovery_length;
        const std::string_view tail = text.substr(cut);
        if (tail[4] == '-' && tail[9] == '-' && looks_like_recovery_code(tail)) {
            return Answer{SecureBuffer(tail), SecureBuffer(text.substr(0, cut))};
        }
    }
    if (allow_recovery && looks_like_recovery_code(text)) {
        return Answer{typed.clone(), std::nullopt};
    }
    return std::nullopt;
}

AnswerShape shape_of(const SecureBuffer& code, unsigned digits, bool allow_recovery) noexcept {
    const std::string_view text = code.view();
    if (text.size() == digits && all_digits(text)) {
        return AnswerShape::totp;
    }
    if (allow_recovery && looks_like_recovery_code(text)) {
        return AnswerShape::recovery;
    }
    return AnswerShape::other;
}

}  // namespace pam_totp
