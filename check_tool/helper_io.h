// The login's input and output (LoginIo) in pam_totp_check: the
// conversation goes back to the module over the socket, the log to syslog,
// and the account is the caller's own, already checked.
#pragma once

#include <optional>
#include <string>

#include "core/login/helper_protocol.h"
#include "core/login/login_flow.h"
#include "core/login/passwd_entry.h"

namespace totp_check {

class HelperIo final : public pam_totp::LoginIo {
  public:
    // `account` is the request's user, looked up and found to be the caller.
    HelperIo(pam_totp::helper::MessageReader& reader, int out_fd, pam_totp::helper::Request request,
             pam_totp::PasswdEntry account)
        : m_reader(reader), m_out(out_fd), m_request(std::move(request)), m_account(std::move(account)) {}

    pam_totp::Result<pam_totp::SecureBuffer> ask(std::string_view prompt, bool echo) override;
    void tell(std::string_view message, bool is_error) override;
    void log(pam_totp::LogLevel level, std::string_view message) override;
    std::optional<std::string> user() override { return m_request.user; }
    pam_totp::Result<std::optional<pam_totp::Account>> account() override;
    pam_totp::Result<pam_totp::SecureBuffer> read_secret(const std::string& path, const pam_totp::FileRules& rules,
                                                         bool as_user) override;
    std::optional<pam_totp::SecureBuffer> authtok() override;
    pam_totp::Status set_authtok(const pam_totp::SecureBuffer& value) override;
    pam_totp::Status keep_deferred_code(const pam_totp::SecureBuffer& code) override;
    std::optional<pam_totp::SecureBuffer> take_deferred_code() override;
    pam_totp::LoginContext context() override;
    std::time_t now() override;

  private:
    pam_totp::helper::MessageReader& m_reader;
    int m_out;
    pam_totp::helper::Request m_request;
    pam_totp::PasswdEntry m_account;
};

// Logs to syslog (LOG_AUTHPRIV) as pam_totp_check, naming the service the
// caller said it is; for the messages before a HelperIo exists too.
void log_line(pam_totp::LogLevel level, const std::string& service, std::string_view message);

}  // namespace totp_check
