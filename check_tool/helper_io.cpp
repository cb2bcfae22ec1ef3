#include "check_tool/helper_io.h"

#include <syslog.h>

#include <ctime>

#include "core/files/fs_identity.h"

namespace totp_check {

using pam_totp::Errc;
using pam_totp::make_error;
namespace helper = pam_totp::helper;

void log_line(pam_totp::LogLevel level, const std::string& service, std::string_view message) {
    const std::string text(message);
    // The uid first (the kernel's word), then the service, the caller's
    // word: letters, digits and item_punctuation only (the protocol
    // checks), so it cannot make its text look like more of the line.
    ::syslog(LOG_AUTHPRIV | static_cast<int>(level), "uid %u service %s: %s", static_cast<unsigned>(::getuid()),
             service.empty() ? "-" : service.c_str(), text.c_str());
}

pam_totp::Result<pam_totp::SecureBuffer> HelperIo::ask(std::string_view prompt, bool echo) {
    if (pam_totp::Status st =
            helper::send_message(m_out, echo ? helper::Kind::ask_echo : helper::Kind::ask_noecho, prompt);
        !st) {
        return st.error();
    }
    // No deadline: a person is typing (the screen may stay locked for
    // hours). Nothing is locked or charged while the helper waits.
    auto m = m_reader.next();
    if (!m) {
        return std::move(m).error();
    }
    if (!m.value()) {
        return make_error(Errc::io, "the module closed the conversation");
    }
    if (m.value()->kind == helper::Kind::answer) {
        return std::move(m.value()->value);
    }
    if (m.value()->kind == helper::Kind::no_answer) {
        return make_error(Errc::io, "the application's conversation failed");
    }
    return make_error(Errc::format,
                      "expected an answer, got '" + std::string(helper::kind_name(m.value()->kind)) + "'");
}

void HelperIo::tell(std::string_view message, bool is_error) {
    // A lost line only loses the hint; the outcome stands.
    (void)helper::send_message(m_out, is_error ? helper::Kind::error : helper::Kind::info, message);
}

void HelperIo::log(pam_totp::LogLevel level, std::string_view message) {
    log_line(level, m_request.service, message);
}

pam_totp::Result<std::optional<pam_totp::Account>> HelperIo::account() {
    const struct passwd& pw = m_account.get();
    return std::optional<pam_totp::Account>(
        pam_totp::Account{m_account.name(), m_account.home(), pw.pw_uid, pw.pw_gid});
}

pam_totp::Result<pam_totp::SecureBuffer> HelperIo::read_secret(const std::string& path,
                                                               const pam_totp::FileRules& rules, bool as_user) {
    if (!as_user) {
        return pam_totp::safe_read_file(path, rules);
    }
    return pam_totp::read_file_as(m_account.get().pw_uid, m_account.get().pw_gid, path, rules);
}

std::optional<pam_totp::SecureBuffer> HelperIo::authtok() {
    if (!m_request.authtok) {
        return std::nullopt;
    }
    return m_request.authtok->clone();
}

pam_totp::Status HelperIo::set_authtok(const pam_totp::SecureBuffer& value) {
    return helper::send_message(m_out, helper::Kind::set_authtok, value.view());
}

pam_totp::Status HelperIo::keep_deferred_code(const pam_totp::SecureBuffer& code) {
    return helper::send_message(m_out, helper::Kind::keep_deferred, code.view());
}

std::optional<pam_totp::SecureBuffer> HelperIo::take_deferred_code() {
    std::optional<pam_totp::SecureBuffer> kept = std::move(m_request.deferred);
    m_request.deferred.reset();
    return kept;
}

pam_totp::LoginContext HelperIo::context() {
    return pam_totp::LoginContext{m_request.service, m_request.rhost, m_request.tty};
}

std::time_t HelperIo::now() {
    return ::time(nullptr);
}

}  // namespace totp_check
