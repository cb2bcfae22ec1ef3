// User names and the `secret=` path template.
#pragma once

#include <string>
#include <string_view>

#include "core/util/result.h"

namespace pam_totp {

// A user name safe to put in a path: non-empty, at most 256 bytes, no '/',
// not "." or "..", no "..", no control characters or spaces, not starting with '-'.
Status validate_user_name(std::string_view user);

// Expands `~` (only as the first character, followed by '/' or end),
// `%h` (home), `%u` (user), `%%` (a '%'). Any other '%' sequence, a result
// that is not absolute, or an empty/relative home when the template needs
// it, is Errc::invalid_argument. The user name is validated first.
Result<std::string> expand_path_template(std::string_view templ, std::string_view user, std::string_view home);

// True when the template reads the home directory (~ or %h).
bool template_uses_home(std::string_view templ) noexcept;

// True when the template has the user name in it (%u).
bool template_uses_user(std::string_view templ) noexcept;

// True when `path` lies below directory `dir` by its text ("/home/a/x" is
// within "/home/a"; "/home/ab" is not). "/" and "" contain nothing: a home
// of "/" makes no file a home file.
bool path_within(std::string_view path, std::string_view dir) noexcept;

// Whether a secret file at `path` (from `templ`) is the user's own, in the
// home: then it is read and written with the user's file-system identity;
// otherwise it is a central file, handled as root in root-owned directories.
bool is_home_file(std::string_view templ, std::string_view path, std::string_view home) noexcept;

}  // namespace pam_totp
