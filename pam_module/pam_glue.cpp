#include "pam_module/pam_glue.h"

#include <pwd.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <string.h>  // explicit_bzero
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "core/files/fs_identity.h"
#include "core/files/path_template.h"
#include "core/login/helper_client.h"
#include "core/login/login_flow.h"
#include "core/login/module_options.h"
#include "core/login/passwd_entry.h"
#include "core/store/open_store.h"

namespace pam_totp {
namespace {

// The pam data name under which a forward_pass defer line keeps the code
// for the pam_totp line after the password module.
constexpr const char* deferred_code_key = "pam_totp_deferred_code";

// libpam calls it at pam_end, or when a check line takes the code (and
// replaces the data). A code still here at the end of a successful
// authentication was never checked: the stack lacks the check line after
// the password module, and let the user in on the password alone. The
// module cannot see the stack; it says so as loudly as it can.
void wipe_deferred_code(pam_handle_t* pamh, void* data, int error_status) {
    const bool replaced = (static_cast<unsigned>(error_status) & PAM_DATA_REPLACE) != 0;
    const int status = static_cast<int>(static_cast<unsigned>(error_status) & ~static_cast<unsigned>(PAM_DATA_SILENT));
    if (!replaced && status == PAM_SUCCESS) {
        ::pam_syslog(pamh, LOG_CRIT,
                     "forward_pass defer kept a code that no pam_totp line checked, and the login succeeded "
                     "without it: add \"auth required pam_totp.so\" after the password module (pam_totp(8))");
    }
    delete static_cast<SecureBuffer*>(data);  // NOLINT(cppcoreguidelines-owning-memory): owned by libpam until here
}

std::string pam_item_text(pam_handle_t* pamh, int item) {
    const void* value = nullptr;
    if (::pam_get_item(pamh, item, &value) != PAM_SUCCESS || value == nullptr) {
        return {};
    }
    return static_cast<const char*>(value);
}

class PamIo final : public LoginIo {
  public:
    PamIo(pam_handle_t* pamh, int flags) : m_pamh(pamh), m_silent((static_cast<unsigned>(flags) & PAM_SILENT) != 0) {}

    Result<SecureBuffer> ask(std::string_view prompt, bool echo) override {
        char* reply = nullptr;
        const std::string text(prompt);
        const int rc =
            ::pam_prompt(m_pamh, echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, &reply, "%s", text.c_str());
        if (rc != PAM_SUCCESS) {
            wipe_free(reply, reply != nullptr ? std::strlen(reply) : 0);
            return make_error(Errc::io, std::string("pam_prompt: ") + ::pam_strerror(m_pamh, rc));
        }
        if (reply == nullptr) {
            return SecureBuffer();
        }
        SecureBuffer answer(reply, std::strlen(reply));
        wipe_free(reply, answer.size());
        return answer;
    }

    void tell(std::string_view message, bool is_error) override {
        if (m_silent) {
            return;
        }
        const std::string text(message);
        // A failing conversation only loses the hint; the outcome stands.
        if (is_error) {
            (void)::pam_error(m_pamh, "%s", text.c_str());
        } else {
            (void)::pam_info(m_pamh, "%s", text.c_str());
        }
    }

    void log(LogLevel level, std::string_view message) override {
        const std::string text(message);
        ::pam_syslog(m_pamh, static_cast<int>(level), "%s", text.c_str());
    }

    std::optional<std::string> user() override {
        const char* user = nullptr;
        if (::pam_get_user(m_pamh, &user, nullptr) != PAM_SUCCESS || user == nullptr) {
            return std::nullopt;
        }
        if (Status st = validate_user_name(user); !st) {
            ::pam_syslog(m_pamh, LOG_ERR, "refusing user name: %s", st.error().message.c_str());
            return std::nullopt;
        }
        m_user = user;
        return m_user;
    }

    Result<std::optional<Account>> account() override {
        if (!m_user) {
            return std::optional<Account>{};
        }
        auto entry = PasswdEntry::by_name(*m_user);
        if (!entry) {
            return std::move(entry).error();
        }
        m_pw = std::move(entry).value();
        if (!m_pw) {
            return std::optional<Account>{};
        }
        const struct passwd& pw = m_pw->get();
        return std::optional<Account>(Account{m_pw->name(), m_pw->home(), pw.pw_uid, pw.pw_gid});
    }

    Result<SecureBuffer> read_secret(const std::string& path, const FileRules& rules, bool as_user) override {
        if (!as_user || ::geteuid() != 0 || !m_pw) {
            return safe_read_file(path, rules);
        }
        // Read a file in the home with the user's file-system identity, so
        // that root's privilege cannot be turned against files the user
        // could not read (NFS root-squash homes, hard links, symlinks).
        return read_file_as(m_pw->get().pw_uid, m_pw->get().pw_gid, path, rules);
    }

    std::optional<SecureBuffer> authtok() override {
        const void* item = nullptr;
        if (::pam_get_item(m_pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS || item == nullptr) {
            return std::nullopt;
        }
        const auto* text = static_cast<const char*>(item);
        return SecureBuffer(text, std::strlen(text));
    }

    Status set_authtok(const SecureBuffer& value) override {
        SecureBuffer text = value.clone();
        text.append("", 1);  // NUL-terminated for libpam, which copies it
        const int rc = ::pam_set_item(m_pamh, PAM_AUTHTOK, text.chars());
        if (rc != PAM_SUCCESS) {
            return make_error(Errc::io, std::string("pam_set_item(PAM_AUTHTOK): ") + ::pam_strerror(m_pamh, rc));
        }
        return {};
    }

    Status keep_deferred_code(const SecureBuffer& code) override {
        auto kept = std::make_unique<SecureBuffer>(code.clone());
        // libpam owns it from here and calls wipe_deferred_code at pam_end
        // (or when a check line takes it).
        const int rc = ::pam_set_data(m_pamh, deferred_code_key, kept.get(), wipe_deferred_code);
        if (rc != PAM_SUCCESS) {
            return make_error(Errc::io, std::string("pam_set_data: ") + ::pam_strerror(m_pamh, rc));
        }
        (void)kept.release();
        return {};
    }

    std::optional<SecureBuffer> take_deferred_code() override {
        const void* data = nullptr;
        if (::pam_get_data(m_pamh, deferred_code_key, &data) != PAM_SUCCESS || data == nullptr) {
            return std::nullopt;
        }
        SecureBuffer code = static_cast<const SecureBuffer*>(data)->clone();
        // Replacing the data runs the cleanup on the old one: wiped, and no
        // later line can check the same code again.
        (void)::pam_set_data(m_pamh, deferred_code_key, nullptr, nullptr);
        return code;
    }

    LoginContext context() override {
        return LoginContext{pam_item_text(m_pamh, PAM_SERVICE), pam_item_text(m_pamh, PAM_RHOST),
                            pam_item_text(m_pamh, PAM_TTY)};
    }

    std::time_t now() override { return ::time(nullptr); }

  private:
    pam_handle_t* m_pamh;
    bool m_silent;
    std::optional<std::string> m_user;  // as user() accepted it
    std::optional<PasswdEntry> m_pw;    // once account() found it
};

// The store the options name (open_store.h). Null (logged) when it cannot
// be set up: no silent fallback to the files.
std::unique_ptr<StateStore> open_store(pam_handle_t* pamh, const ModuleOptions& opts) {
    auto store = open_state_store({opts.store, opts.state_dir, opts.store_config});
    if (!store) {
        ::pam_syslog(pamh, LOG_ERR, "store=postgresql: %s; denying (fix %s)", store.error().message.c_str(),
                     opts.store_config.c_str());
        return nullptr;
    }
    return std::move(store).value();
}

}  // namespace

int authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    int rc = PAM_AUTH_ERR;
    const auto opts = parse_module_options(argc, argv);
    if (!opts) {
        ::pam_syslog(pamh, LOG_ERR, "%s; denying (fix the PAM configuration)", opts.error().message.c_str());
        return rc;
    }
    PamIo io(pamh, flags);
    LoginOutcome outcome = LoginOutcome::denied;
    if (::geteuid() != 0) {
        // A screen locker: the state is root's, so the setuid helper does
        // the login, for this user only (pam_totp(8), UNPRIVILEGED CALLERS).
        const std::vector<std::string> args(argv, argv + argc);
        outcome = run_login_via_helper(io, opts.value(), args);
    } else {
        auto store = open_store(pamh, opts.value());
        if (!store) {
            return PAM_AUTHINFO_UNAVAIL;
        }
        outcome = run_login(io, opts.value(), *store);
    }
    switch (outcome) {
        case LoginOutcome::success:
            rc = PAM_SUCCESS;
            break;
        case LoginOutcome::ignore:
            rc = PAM_IGNORE;
            break;
        case LoginOutcome::unavailable:
            rc = PAM_AUTHINFO_UNAVAIL;
            break;
        case LoginOutcome::denied:
            break;
    }
    return rc;
}

}  // namespace pam_totp
