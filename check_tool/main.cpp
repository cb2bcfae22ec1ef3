// pam_totp_check: the login of pam_totp.so for a caller that is not root
// (a screen locker), with root's access to the state and for the caller's
// own account only (pam_totp(8), UNPRIVILEGED CALLERS). Installed setuid
// root; run by the module with a socket on fd 0 and 1 (helper_protocol.h).
// Its exit status is the outcome.
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "check_tool/helper_io.h"
#include "check_tool/process_setup.h"
#include "core/files/path_template.h"
#include "core/files/safe_file.h"
#include "core/login/helper_policy.h"
#include "core/login/helper_protocol.h"
#include "core/login/login_flow.h"
#include "core/login/module_options.h"
#include "core/login/passwd_entry.h"
#include "core/store/open_store.h"

namespace totp_check {
namespace {

namespace helper = pam_totp::helper;
using pam_totp::LogLevel;

// The module sends its request at once; a caller that sends nothing
// does not keep a root process waiting.
constexpr std::chrono::seconds request_wait{30};

int refuse(const std::string& service, const std::string& why) {
    log_line(LogLevel::err, service, why + "; denying");
    return helper::exit_refused;
}

// The allowed policies: helper.conf's lines, root's and not writable by
// others, or the defaults when there is no such file.
pam_totp::Result<std::vector<pam_totp::ModuleOptions>> read_policies() {
    const pam_totp::FileRules rules{.owner = 0, .root_may_own = true, .root_owned_dirs = true};
    auto text = pam_totp::safe_read_file(pam_totp::helper_conf_path, rules);
    if (!text) {
        if (text.error().code == pam_totp::Errc::not_found) {
            return pam_totp::allowed_policies(std::nullopt);
        }
        return std::move(text).error();
    }
    return pam_totp::allowed_policies(text.value().view());
}

int run() {
    auto caller = make_process_safe();
    ::openlog("pam_totp_check", LOG_PID, LOG_AUTHPRIV);
    if (!caller) {
        return refuse("", caller.error().message);
    }
    helper::MessageReader reader(STDIN_FILENO);
    auto request = helper::read_request(reader, std::chrono::steady_clock::now() + request_wait);
    if (!request) {
        return refuse("", "reading the request: " + request.error().message);
    }
    const std::string service = request.value().service;
    const std::string user = request.value().user;

    // The caller's own account, and no other: the name must be the one the
    // account database gives for the real uid, as unix_chkpwd requires (a
    // second name for the same uid would have a guessing budget of its own).
    if (pam_totp::Status st = pam_totp::validate_user_name(user); !st) {
        return refuse(service, st.error().message);
    }
    auto entry = pam_totp::PasswdEntry::by_uid(caller.value().uid);
    if (!entry) {
        return refuse(service,
                      "cannot look uid " + std::to_string(caller.value().uid) + " up: " + entry.error().message);
    }
    if (!entry.value() || entry.value()->name() != user) {
        return refuse(service, "asked to check user " + user + ", who is not the caller (" +
                                   (entry.value() ? entry.value()->name() : std::string("no account")) +
                                   "): only the caller's own code can be checked");
    }

    std::vector<const char*> argv;
    argv.reserve(request.value().args.size());
    for (const std::string& a : request.value().args) {
        argv.push_back(a.c_str());
    }
    auto opts = pam_totp::parse_module_options(static_cast<int>(argv.size()), argv.data());
    if (!opts) {
        return refuse(service, opts.error().message);
    }
    auto policies = read_policies();
    if (!policies) {
        return refuse(service, policies.error().message);
    }
    if (pam_totp::Status st = pam_totp::check_policy(opts.value(), policies.value()); !st) {
        return refuse(service, "user " + user + ": " + st.error().message);
    }
    auto store = pam_totp::open_state_store({opts.value().store, opts.value().state_dir, opts.value().store_config});
    if (!store) {
        log_line(LogLevel::err, service,
                 "user " + user + ": store=postgresql: " + store.error().message + "; denying (fix " +
                     opts.value().store_config + ")");
        return helper::exit_unavailable;
    }
    HelperIo io(reader, STDOUT_FILENO, std::move(request).value(), std::move(*entry.value()));
    switch (pam_totp::run_login(io, opts.value(), *store.value())) {
        case pam_totp::LoginOutcome::success:
            return helper::exit_success;
        case pam_totp::LoginOutcome::ignore:
            return helper::exit_ignore;
        case pam_totp::LoginOutcome::unavailable:
            return helper::exit_unavailable;
        case pam_totp::LoginOutcome::denied:
            break;
    }
    return helper::exit_denied;
}

}  // namespace
}  // namespace totp_check

int main() {
    // Any exception (an allocation failing under the caller's RLIMIT_AS) is
    // a denial, never a success.
    try {
        return totp_check::run();
    } catch (...) {
        return pam_totp::helper::exit_denied;
    }
}
