// User names and the `secret=` path template.
#pragma once

#include <string>
#include <string_view>

#include "result.h"

namespace pam_totp {

// A user name safe to put in a path: non-empty, at most 256 bytes, no '/',
// not "." or "..", no "..", no control characters or spaces, not starting with '-'.
Status validate_user_name(std::string_view user);

// Expands `~` (only as the first character, followed by '/' or end),
// `%h` (home), `%u` (user), `%%` (a '%'). Any other '%' sequence, a result
// that is not absolute, or an empty/relative home when the template needs
// it, is Errc::invalid_argument. The user name is validated first.
Result<std::string> expand_path_template(std::string_view templ, std::string_view user, std::string_view home);

}  // namespace pam_totp
