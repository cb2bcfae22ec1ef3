// An account database entry looked up by name, with getpwnam_r: the module
// and pam_totp_check look accounts up the same way.
#pragma once

#include <pwd.h>

#include <optional>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace pam_totp {

class PasswdEntry {
  public:
    // nullopt when the account database has no such account; an error when
    // the lookup failed (a directory server down): only the first may be
    // taken as an answer, which pam_modutil_getpwnam cannot tell apart.
    static Result<std::optional<PasswdEntry>> by_name(const std::string& name);
    // The same by uid (getpwuid_r): the account the database gives first
    // for it, as unix_chkpwd takes the caller's name.
    static Result<std::optional<PasswdEntry>> by_uid(uid_t uid);

    [[nodiscard]] const struct passwd& get() const noexcept { return m_pwd; }
    [[nodiscard]] std::string name() const { return m_pwd.pw_name != nullptr ? m_pwd.pw_name : ""; }
    [[nodiscard]] std::string home() const { return m_pwd.pw_dir != nullptr ? m_pwd.pw_dir : ""; }

    PasswdEntry(PasswdEntry&& other) noexcept = default;
    PasswdEntry& operator=(PasswdEntry&& other) noexcept = default;
    PasswdEntry(const PasswdEntry&) = delete;
    PasswdEntry& operator=(const PasswdEntry&) = delete;
    ~PasswdEntry() = default;

  private:
    PasswdEntry() = default;
    template <typename Lookup>
    static Result<std::optional<PasswdEntry>> look_up(const char* what, Lookup lookup);
    struct passwd m_pwd {};
    std::vector<char> m_buf;  // holds m_pwd's strings (moving a vector keeps its storage)
};

}  // namespace pam_totp
