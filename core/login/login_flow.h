// One pam_totp login: find the user's secret file, ask for the code, and
// check it under the state lock against what is on disk then, with the
// attempt charged durably before the answer is looked at (core/store/
// records.h). Everything PAM-specific is behind LoginIo, so the flow is
// testable and the PAM module stays a shim.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "core/files/safe_file.h"
#include "core/login/module_options.h"
#include "core/store/state_store.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

// Log priorities, as syslog(3) numbers them (the Linux-PAM module writers'
// guide levels: success INFO, wrong code NOTICE, bad file ERR).
enum class LogLevel { crit = 2, err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

struct Account {
    std::string name;
    std::string home;
    uid_t uid = 0;
    gid_t gid = 0;
};

// Where the login comes from (PAM_SERVICE, PAM_RHOST, PAM_TTY), for the
// state's last login and the log.
struct LoginContext {
    std::string service;
    std::string rhost;
    std::string tty;
};

class LoginIo {
  public:
    LoginIo() = default;
    virtual ~LoginIo() = default;
    LoginIo(const LoginIo&) = delete;
    LoginIo& operator=(const LoginIo&) = delete;
    LoginIo(LoginIo&&) = delete;
    LoginIo& operator=(LoginIo&&) = delete;
    // The conversation: shows `prompt`, returns what the user typed.
    virtual Result<SecureBuffer> ask(std::string_view prompt, bool echo) = 0;
    // An informational or error line for the user (suppressed under PAM_SILENT).
    virtual void tell(std::string_view message, bool is_error) = 0;
    virtual void log(LogLevel level, std::string_view message) = 0;
    // The user name being authenticated (PAM_USER), accepted by
    // validate_user_name; nullopt when there is none or it is refused.
    virtual std::optional<std::string> user() = 0;
    // The account of user(), looked up: nullopt when the account database
    // has no such account, an error when the lookup failed. Asked only when
    // needed: with files NSS every lookup scans /etc/passwd.
    virtual Result<std::optional<Account>> account() = 0;
    // Reads the secret file; with `as_user`, under the user's file-system
    // identity (setfsuid/setfsgid), restored before returning.
    virtual Result<SecureBuffer> read_secret(const std::string& path, const FileRules& rules, bool as_user) = 0;
    // PAM_AUTHTOK: what an earlier module collected; nullopt if none.
    virtual std::optional<SecureBuffer> authtok() = 0;
    virtual Status set_authtok(const SecureBuffer& value) = 0;
    // forward_pass defer: the code kept by an earlier pam_totp line of the
    // stack for this one to check (taken: a second call returns nothing).
    virtual Status keep_deferred_code(const SecureBuffer& code) = 0;
    virtual std::optional<SecureBuffer> take_deferred_code() = 0;
    virtual LoginContext context() = 0;
    virtual std::time_t now() = 0;
};

enum class LoginOutcome {
    success,      // a valid, fresh code or an unused recovery code, durably recorded
    denied,       // anything else
    ignore,       // nullok and no secret file; or forward_pass defer, which only collects
    unavailable,  // denied because a shared store could not be used (PAM_AUTHINFO_UNAVAIL)
};

// Never throws on purpose; the PAM shim still guards against bad_alloc.
LoginOutcome run_login(LoginIo& io, const ModuleOptions& opts, StateStore& store);

}  // namespace pam_totp
