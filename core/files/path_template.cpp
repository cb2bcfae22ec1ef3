#include "core/files/path_template.h"

#include <climits>

namespace pam_totp {

namespace {

constexpr std::size_t max_user_name = 256;

// The messages never repeat the offending name or template text: either may
// hold control characters that would forge lines in the log.
Error bad_user(const char* why) {
    return make_error(Errc::invalid_argument, std::string("user name ") + why);
}

Error bad_template(const std::string& why) {
    return make_error(Errc::invalid_argument, "secret= path template: " + why);
}

bool is_control_or_space(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
}

}  // namespace

Status validate_user_name(std::string_view user) {
    if (user.empty()) {
        return bad_user("is empty");
    }
    if (user.size() > max_user_name) {
        return bad_user("is longer than 256 bytes");
    }
    if (user.front() == '-') {
        return bad_user("starts with '-'");
    }
    if (user == ".") {
        return bad_user("is \".\"");
    }
    // Covers ".." itself: with '/' refused too, %u can never climb out of
    // the directory it is placed in.
    if (user.find("..") != std::string_view::npos) {
        return bad_user("contains \"..\"");
    }
    for (const char c : user) {
        if (c == '/') {
            return bad_user("contains '/'");
        }
        if (is_control_or_space(c)) {
            return bad_user("contains a space or control character");
        }
    }
    return {};
}

Result<std::string> expand_path_template(std::string_view templ, std::string_view user, std::string_view home) {
    if (Status st = validate_user_name(user); !st) {
        return st.error();
    }

    std::string out;
    bool needs_home = false;
    std::size_t i = 0;
    // "~" only at the very start and only as "~" or "~/...": "~alice" is not
    // a home reference and is kept literally (the result is then relative
    // and refused below).
    if (!templ.empty() && templ.front() == '~' && (templ.size() == 1 || templ[1] == '/')) {
        needs_home = true;
        out.append(home);
        i = 1;
    }
    for (; i < templ.size(); ++i) {
        const char c = templ[i];
        if (c != '%') {
            out.push_back(c);
            continue;
        }
        if (i + 1 == templ.size()) {
            return bad_template("ends with a lone '%'");
        }
        const char spec = templ[++i];
        if (spec == 'h') {
            needs_home = true;
            out.append(home);
        } else if (spec == 'u') {
            out.append(user);
        } else if (spec == '%') {
            out.push_back('%');
        } else {
            return bad_template("unknown escape at offset " + std::to_string(i - 1) +
                                " (only %h, %u, %% and a leading ~ are known)");
        }
    }

    if (needs_home && (home.empty() || home.front() != '/')) {
        return bad_template("uses the home directory, but the user's home is empty or not absolute");
    }
    if (out.empty() || out.front() != '/') {
        return bad_template("does not expand to an absolute path");
    }
    if (out.find('\0') != std::string::npos) {
        return bad_template("expands to a path with a NUL byte");
    }
    // The home may hold ".."; the user name cannot (validated above).
    if (out.find("/../") != std::string::npos || out.ends_with("/..")) {
        return bad_template("expands to a path with a \"..\" component");
    }
    if (out.size() >= PATH_MAX) {
        return bad_template("expands to a path longer than PATH_MAX");
    }
    return out;
}

namespace {

// True when `templ` has the %-sequence "%`letter`".
bool template_has(std::string_view templ, char letter) noexcept {
    for (std::size_t i = 0; i + 1 < templ.size(); ++i) {
        if (templ[i] == '%') {
            if (templ[i + 1] == letter) {
                return true;
            }
            ++i;  // skip the escaped character ("%%h" is a literal "%h")
        }
    }
    return false;
}

}  // namespace

bool template_uses_home(std::string_view templ) noexcept {
    return (!templ.empty() && templ.front() == '~') || template_has(templ, 'h');
}

bool template_uses_user(std::string_view templ) noexcept {
    return template_has(templ, 'u');
}

bool path_within(std::string_view path, std::string_view dir) noexcept {
    while (dir.size() > 1 && dir.back() == '/') {
        dir.remove_suffix(1);
    }
    if (dir.empty() || dir == "/") {
        return false;
    }
    return path.size() > dir.size() + 1 && path.substr(0, dir.size()) == dir && path[dir.size()] == '/';
}

bool is_home_file(std::string_view templ, std::string_view path, std::string_view home) noexcept {
    return template_uses_home(templ) || path_within(path, home);
}

}  // namespace pam_totp
