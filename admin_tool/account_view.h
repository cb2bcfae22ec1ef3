// One account as totp-admin reports it: what its secret file holds (token
// names and parameters, recovery codes, never a secret) and what the state
// holds (last login, wrong codes, lockout, each token's replay record),
// found as the module finds them (totp-admin(8), DESCRIPTION).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "admin_tool/cli_options.h"
#include "admin_tool/state_records.h"
#include "core/files/secret_file.h"
#include "core/otp/token.h"
#include "core/store/records.h"
#include "core/util/result.h"

namespace totp_admin {

// An entry of the account database, copied.
struct AccountEntry {
    std::string name;
    std::string home;
    uid_t uid = 0;
    gid_t gid = 0;
};

enum class SecretStatus {
    found,       // read and parsed
    missing,     // no file there
    refused,     // a file the module refuses (owner, mode, links, directories)
    malformed,   // a file that does not parse
    not_read,    // --list of a home template without --homes
    no_account,  // a home template, and the account database has no such account
    error,       // it could not be looked at (the account lookup failed, ...)
};

std::string_view secret_status_name(SecretStatus status) noexcept;

enum class StateStatus {
    found,  // the account has a state
    none,   // no login has written one yet
    error,  // it could not be read
};

std::string_view state_status_name(StateStatus status) noexcept;

struct TokenView {
    std::string name;
    pam_totp::TokenType type = pam_totp::TokenType::totp;
    pam_totp::TotpParams params;
    pam_totp::TokenId id;
    long file_offset = 0;            // totp: the secret file's offset
    std::time_t file_confirmed = 0;  // totp: the secret file's confirmed
    std::uint64_t file_counter = 0;  // hotp: the secret file's counter
    std::time_t added = 0;
    std::optional<pam_totp::TokenRecord> record;  // its replay record, when it has one
    std::string problem;                          // why the record could not be read

    // TOTP: the offset the module centres the window on now (the observed
    // drift while it holds for the file's token, else the file's offset).
    [[nodiscard]] long clock_offset() const;
    [[nodiscard]] bool drift_observed() const;
    // HOTP: the first counter the module accepts now.
    [[nodiscard]] std::uint64_t next_counter() const;
    // TOTP: codes of steps starting before this are refused as used: the
    // end of the last accepted step, or of the enrollment's confirming code
    // (0: neither).
    [[nodiscard]] std::time_t used_until() const;
    // An attempt that died before it was settled (the next login settles it).
    [[nodiscard]] bool unsettled() const;
};

struct AccountView {
    std::string user;
    SecretStatus secret = SecretStatus::not_read;
    std::string secret_path;  // empty when it could not be built
    std::string secret_problem;
    unsigned format = 0;
    std::time_t enrolled = 0;
    std::optional<unsigned> window;
    std::vector<TokenView> tokens;
    std::size_t recovery_codes = 0;
    std::optional<std::size_t> recovery_left;
    pam_totp::TokenId recovery_id;
    std::vector<std::string> recovery_hashes;

    StateStatus state = StateStatus::none;
    std::string state_problem;
    pam_totp::AccountRecord record;  // meaningful when state == found
};

// Finds and reads secret files as the module does for `secret=TEMPLATE`:
// a central file as root, in directories only root controls; a file in
// the home with the user's file-system identity, owned by the user.
class SecretReader {
  public:
    explicit SecretReader(std::string templ) : m_templ(std::move(templ)) {}

    [[nodiscard]] const std::string& templ() const { return m_templ; }
    [[nodiscard]] bool home_based() const;
    // The directory to list when the template is DIR/...%u... (%u in the
    // file name only, DIR fixed): nullopt for any other template.
    [[nodiscard]] std::optional<std::string> central_dir() const;
    // The account names with a file in central_dir(), sorted. Names that
    // the module would refuse (validate_user_name), and dot files (the
    // lock and temporary files of totp-enroll), are not accounts.
    pam_totp::Result<std::vector<std::string>> central_names() const;

    // Reads `view.user`'s file into the view: `account` is the account
    // database's entry (needed for a home template; a central file owned
    // by the user needs it too, and it is looked up when not given).
    void read(AccountView& view, const std::optional<AccountEntry>& account) const;

  private:
    std::string m_templ;
};

// Every entry of the account database (getpwent), once per name, in its order.
std::vector<AccountEntry> all_accounts();

// The account database's entry for `name`: nullopt when there is none; an
// error when the lookup failed.
pam_totp::Result<std::optional<AccountEntry>> find_account(const std::string& name);

// Fills in what the state holds for the account and for its tokens (and
// so the recovery codes left). A record that cannot be read leaves a
// problem in the view.
void read_state(AccountView& view, RecordSource& records);

}  // namespace totp_admin
