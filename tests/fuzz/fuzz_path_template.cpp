// libFuzzer target: expand_path_template and validate_user_name
// (core/files/path_template.h). Input: TEMPLATE NUL USER NUL HOME.
// Properties: an expanded path is absolute, has no "." ".." component made
// by "/../" or a trailing "/..", no NUL; a name that validates has none of
// the refused characters; the user name never adds a path component (the
// same template with the user "x" gives as many slashes).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/files/path_template.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool name_is_safe(std::string_view user) {
    if (user.empty() || user.size() > 256 || user.front() == '-' || user == "." ||
        user.find("..") != std::string_view::npos) {
        return false;
    }
    return std::none_of(user.begin(), user.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return c == '/' || u <= 0x20 || u == 0x7f;
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    const std::size_t a = text.find('\0');
    const std::string_view templ = text.substr(0, a);
    std::string_view user;
    std::string_view home;
    if (a != std::string_view::npos) {
        const std::string_view rest = text.substr(a + 1);
        const std::size_t b = rest.find('\0');
        user = rest.substr(0, b);
        if (b != std::string_view::npos) {
            home = rest.substr(b + 1);
        }
    }

    const pam_totp::Status valid = pam_totp::validate_user_name(user);
    FUZZ_CHECK(valid.ok() == name_is_safe(user));
    if (!valid) {
        FUZZ_CHECK(valid.error().code == pam_totp::Errc::invalid_argument);
    }

    auto path = pam_totp::expand_path_template(templ, user, home);
    if (!path) {
        FUZZ_CHECK(path.error().code == pam_totp::Errc::invalid_argument);
        FUZZ_CHECK(!path.error().message.empty());
        return 0;
    }
    FUZZ_CHECK(valid.ok());
    const std::string& p = path.value();
    FUZZ_CHECK(!p.empty() && p.front() == '/');
    FUZZ_CHECK(p.find("/../") == std::string::npos);
    FUZZ_CHECK(!(p.size() >= 3 && p.ends_with("/..")));
    FUZZ_CHECK(p.find('\0') == std::string::npos);

    auto plain = pam_totp::expand_path_template(templ, "x", home);
    FUZZ_CHECK(plain.ok());
    FUZZ_CHECK(std::count(p.begin(), p.end(), '/') == std::count(plain.value().begin(), plain.value().end(), '/'));
    return 0;
}
