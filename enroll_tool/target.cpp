#include "target.h"

#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "core/files/path_template.h"
#include "core/files/safe_file.h"
#include "core/store/state_key.h"

namespace totp_enroll {

pam_totp::Result<Target> resolve_target(const CliOptions& opts) {
    const uid_t caller = ::getuid();
    std::array<char, 16384> buf{};
    struct passwd pw {};
    struct passwd* found = nullptr;
    int rc = 0;
    if (opts.user) {
        if (pam_totp::Status st = pam_totp::validate_user_name(*opts.user); !st) {
            return pam_totp::make_error(pam_totp::Errc::invalid_argument, "--user: " + st.error().message);
        }
        rc = ::getpwnam_r(opts.user->c_str(), &pw, buf.data(), buf.size(), &found);
        if (found == nullptr) {
            return pam_totp::make_error(
                pam_totp::Errc::not_found,
                rc != 0 ? pam_totp::errno_message("cannot look up user " + *opts.user, rc)
                        : "no such user: " + *opts.user + " (check the name with: id " + *opts.user + ")");
        }
        if (caller != 0 && found->pw_uid != caller) {
            return pam_totp::make_error(pam_totp::Errc::permission, "--user " + *opts.user +
                                                                        " needs root: run it with sudo, or drop --user "
                                                                        "to enroll yourself");
        }
    } else {
        rc = ::getpwuid_r(caller, &pw, buf.data(), buf.size(), &found);
        if (found == nullptr) {
            return pam_totp::make_error(
                pam_totp::Errc::not_found,
                rc != 0 ? pam_totp::errno_message("cannot look up your account", rc)
                        : "cannot find your account (uid " + std::to_string(caller) + ") in the user database");
        }
    }
    Target t;
    t.user = found->pw_name;
    t.home = found->pw_dir != nullptr ? found->pw_dir : "";
    t.uid = found->pw_uid;
    t.gid = found->pw_gid;
    const std::string templ = opts.secret_file.value_or("~/.pam_totp");
    auto path = pam_totp::expand_path_template(templ, t.user, t.home);
    if (!path) {
        return pam_totp::make_error(pam_totp::Errc::invalid_argument, "--secret-file: " + path.error().message);
    }
    t.path = std::move(path).value();
    t.home_file = pam_totp::is_home_file(templ, t.path, t.home);
    t.names_own_file = pam_totp::template_names_own_file(templ);
    if (t.names_own_file && opts.mode != Mode::remove) {
        // What pam_totp refuses for a template that keys the state by name
        // (core/state_key.h), said before anything is written.
        if (t.home_file) {
            return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                        "--secret-file " + templ +
                                            " names a file in the home by %u, which pam_totp "
                                            "refuses (~/.pam_totp would keep its state apart); name it with ~ or %h");
        }
        auto parts = pam_totp::split_path(t.path);
        if (parts) {
            auto dir = pam_totp::open_checked_directory(t.path, parts.value().first, 0, false);
            if (!dir && dir.error().code == pam_totp::Errc::unsafe) {
                return pam_totp::make_error(pam_totp::Errc::unsafe,
                                            dir.error().message + "; pam_totp refuses secret files there");
            }
        }
    }
    return t;
}

}  // namespace totp_enroll
