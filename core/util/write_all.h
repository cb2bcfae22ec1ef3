// Writing all of a text to a descriptor, retrying short writes and EINTR:
// what the command-line tools print through (no stdio buffer keeps a copy
// of a secret).
#pragma once

#include <string_view>

namespace pam_totp {

// False when the descriptor refused the rest (nowhere left to say so).
bool write_all(int fd, std::string_view text) noexcept;

}  // namespace pam_totp
