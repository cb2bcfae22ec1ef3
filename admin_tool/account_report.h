// What totp-admin --list and --show print: aligned columns with a header
// for people, one JSON document for scripts (its fields: totp-admin(8),
// JSON OUTPUT; they only ever gain fields).
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "admin_tool/account_view.h"
#include "admin_tool/cli_options.h"

namespace totp_admin {

// What a listing found besides the accounts: states that name no account
// that can be shown, a secret directory that could not be read.
struct ListReport {
    std::vector<AccountView> accounts;  // by user name
    std::vector<std::string> problems;
};

std::string list_text(const ListReport& report, const CliOptions& opts, std::time_t now);
std::string list_json(const ListReport& report, const CliOptions& opts, std::time_t now);

std::string show_text(const AccountView& view, const CliOptions& opts, const std::string& state_where, std::time_t now);
std::string show_json(const AccountView& view, const CliOptions& opts, std::time_t now);

}  // namespace totp_admin
