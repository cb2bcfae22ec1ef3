#include "target.h"

#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "core/files/path_template.h"

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
    return t;
}

}  // namespace totp_enroll
