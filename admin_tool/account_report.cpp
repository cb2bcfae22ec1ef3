#include "admin_tool/account_report.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "admin_tool/json_writer.h"
#include "core/files/path_template.h"
#include "core/otp/rate_limit.h"
#include "core/otp/totp.h"

namespace totp_admin {
namespace {

using pam_totp::TokenType;

// Columns padded to their widest cell, two spaces apart; the last one is
// not padded (no trailing spaces).
class Table {
  public:
    explicit Table(std::vector<std::string> header) : m_rows{std::move(header)} {}
    void add(std::vector<std::string> row) { m_rows.push_back(std::move(row)); }

    [[nodiscard]] std::string str(const std::string& indent = "") const {
        std::vector<std::size_t> width(m_rows.front().size(), 0);
        for (const auto& row : m_rows) {
            for (std::size_t i = 0; i < row.size(); ++i) {
                width[i] = std::max(width[i], row[i].size());
            }
        }
        std::string out;
        for (const auto& row : m_rows) {
            std::string line = indent;
            for (std::size_t i = 0; i < row.size(); ++i) {
                line += row[i];
                if (i + 1 < row.size()) {
                    line.append(width[i] - row[i].size() + 2, ' ');
                }
            }
            while (!line.empty() && line.back() == ' ') {
                line.pop_back();
            }
            out += line + "\n";
        }
        return out;
    }

  private:
    std::vector<std::vector<std::string>> m_rows;
};

std::string or_dash(const std::string& s) {
    return s.empty() ? "-" : s;
}

std::string plural(std::int64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "4 min", "2 h", "35 s": how long is left, rounded up.
std::string duration_text(std::time_t secs) {
    if (secs < 120) {
        return std::to_string(secs) + " s";
    }
    if (secs < std::time_t{2} * 3600) {
        return std::to_string((secs + 59) / 60) + " min";
    }
    return std::to_string((secs + 3599) / 3600) + " h";
}

std::string signed_seconds(long s) {
    return (s > 0 ? "+" : "") + std::to_string(s) + " s";
}

bool has_state(const AccountView& v) {
    return v.state == StateStatus::found;
}

std::size_t failures_in_window(const AccountView& v, const CliOptions& opts, std::time_t now) {
    return has_state(v) ? pam_totp::recent_failures(v.record.budget, opts.rate, now) : 0;
}

// What the TOKENS column says when there are no names to show.
std::string tokens_cell(const AccountView& v) {
    switch (v.secret) {
        case SecretStatus::found: {
            std::string names;
            for (const TokenView& t : v.tokens) {
                names += (names.empty() ? "" : ",") + t.name;
            }
            return names;
        }
        case SecretStatus::missing:
            return "(no file)";
        case SecretStatus::not_read:
            return "(not read)";
        case SecretStatus::no_account:
            return "(no account)";
        case SecretStatus::refused:
        case SecretStatus::malformed:
        case SecretStatus::error:
            break;
    }
    return "(" + std::string(secret_status_name(v.secret)) + ")";
}

std::string recovery_cell(const AccountView& v) {
    if (v.secret != SecretStatus::found) {
        return "-";
    }
    return (v.recovery_left ? std::to_string(*v.recovery_left) : std::string("?")) + "/" +
           std::to_string(v.recovery_codes);
}

// The problems of one account, for the lines under the table.
std::vector<std::string> problems_of(const AccountView& v) {
    std::vector<std::string> out;
    if (!v.secret_problem.empty() && v.secret != SecretStatus::no_account) {
        out.push_back(v.secret_problem);
    }
    if (!v.state_problem.empty()) {
        out.push_back("state: " + v.state_problem);
    }
    for (const TokenView& t : v.tokens) {
        if (!t.problem.empty()) {
            out.push_back("token " + t.name + ": " + t.problem);
        }
    }
    if (v.secret == SecretStatus::found && !v.recovery_left && v.recovery_codes > 0) {
        out.push_back("how many recovery codes are used could not be read from the state");
    }
    return out;
}

std::string token_json(const TokenView& t) {
    const bool totp = t.type == TokenType::totp;
    JsonObject o;
    o.add("name", t.name)
        .add("type", pam_totp::token_type_name(t.type))
        .add("algorithm", pam_totp::algorithm_name(t.params.algorithm))
        .add("digits", static_cast<std::int64_t>(t.params.digits))
        .add_count("period", totp ? std::optional<std::int64_t>(t.params.period) : std::nullopt)
        .add("token_id", t.id.hex())
        .add_time("added", t.added)
        .add_time("used_until", totp && t.used_until() > 0 ? std::optional<std::time_t>(t.used_until()) : std::nullopt)
        .add_count("clock_offset", totp ? std::optional<std::int64_t>(t.clock_offset()) : std::nullopt)
        .add("drift_observed", t.drift_observed())
        .add_count("next_counter",
                   totp ? std::nullopt : std::optional<std::int64_t>(static_cast<std::int64_t>(t.next_counter())))
        .add("unsettled_attempt", t.unsettled())
        .add_text("state_problem", t.problem);
    return o.str();
}

std::string account_json(const AccountView& v, const CliOptions& opts, std::time_t now) {
    const bool found = v.secret == SecretStatus::found;
    const bool state = has_state(v);
    const pam_totp::Budget& b = v.record.budget;
    JsonArray tokens;
    for (const TokenView& t : v.tokens) {
        tokens.add_raw(token_json(t));
    }
    std::string last_login = "null";
    if (state && v.record.last_login) {
        const pam_totp::LastLogin& l = *v.record.last_login;
        last_login = JsonObject()
                         .add("at", utc_iso(l.when))
                         .add("unix", static_cast<std::int64_t>(l.when))
                         .add_text("service", l.service)
                         .add_text("rhost", l.rhost)
                         .add_text("tty", l.tty)
                         .str();
    }
    const bool locked = state && pam_totp::is_locked(b, now);
    JsonObject o;
    o.add("user", v.user)
        .add_text("secret_file", v.secret_path)
        .add("secret_status", secret_status_name(v.secret))
        .add_text("secret_problem", v.secret_problem)
        .add_count("format", found ? std::optional<std::int64_t>(v.format) : std::nullopt)
        .add_time("enrolled", found ? std::optional<std::time_t>(v.enrolled) : std::nullopt)
        .add_raw("tokens", tokens.str())
        .add_count("recovery_codes",
                   found ? std::optional<std::int64_t>(static_cast<std::int64_t>(v.recovery_codes)) : std::nullopt)
        .add_count("recovery_codes_left", v.recovery_left
                                              ? std::optional<std::int64_t>(static_cast<std::int64_t>(*v.recovery_left))
                                              : std::nullopt)
        .add("state_status", state_status_name(v.state))
        .add_text("state_problem", v.state_problem)
        .add_raw("last_login", last_login)
        .add("failures_in_window", static_cast<std::int64_t>(failures_in_window(v, opts, now)))
        .add("failures_since_success", static_cast<std::int64_t>(state ? b.since_success : 0))
        .add("deny", static_cast<std::int64_t>(opts.rate.deny))
        .add("fail_interval", static_cast<std::int64_t>(opts.rate.fail_interval))
        .add("locked", locked)
        .add_time("locked_until", locked ? std::optional<std::time_t>(b.locked_until) : std::nullopt)
        .add("lockouts_in_a_row", static_cast<std::int64_t>(state ? b.lockouts : 0))
        .add("debt_seconds", static_cast<std::int64_t>(state ? pam_totp::debt(b, now) : 0))
        .add_time("unsettled_attempt", state ? v.record.charge : std::nullopt);
    return o.str();
}

}  // namespace

std::string list_text(const ListReport& report, const CliOptions& opts, std::time_t now) {
    Table table(
        {"USER", "TOKENS", "LAST LOGIN (UTC)", "SERVICE", "FROM", "TTY", "WRONG", "LOCKED UNTIL (UTC)", "RECOVERY"});
    bool not_read = false;
    std::vector<std::string> problems;
    for (const AccountView& v : report.accounts) {
        const bool state = has_state(v);
        const pam_totp::Budget& b = v.record.budget;
        const std::optional<pam_totp::LastLogin> none;
        const std::optional<pam_totp::LastLogin>& last = state ? v.record.last_login : none;
        table.add({v.user, tokens_cell(v), last ? utc_text(last->when) : "-", last ? or_dash(last->service) : "-",
                   last ? or_dash(last->rhost) : "-", last ? or_dash(last->tty) : "-",
                   v.state == StateStatus::error ? "?" : std::to_string(failures_in_window(v, opts, now)),
                   state && pam_totp::is_locked(b, now) ? utc_text(b.locked_until) : "-", recovery_cell(v)});
        not_read = not_read || v.secret == SecretStatus::not_read;
        for (const std::string& p : problems_of(v)) {
            problems.push_back(v.user + ": " + p);
        }
    }
    std::string out;
    if (report.accounts.empty()) {
        out += "No enrolled account found.\n";
    } else {
        out += table.str();
        out += "\nWRONG: wrong codes within the last " + std::to_string(opts.rate.fail_interval) + " s, a lockout at " +
               std::to_string(opts.rate.deny) +
               " (give the PAM line's deny= and fail_interval= as --deny and --fail-interval).\n"
               "RECOVERY: recovery codes left/stored.\n";
    }
    out +=
        "Looked in: " +
        std::string(opts.homes ? "the secret file of every account (" + opts.secret_file + ")"
                               : "secret files " + opts.secret_file) +
        "; state " +
        (opts.store == pam_totp::StoreKind::file ? opts.state_dir : "in the shared store (" + opts.store_config + ")") +
        ".\n";
    if (not_read || (report.accounts.empty() && pam_totp::template_uses_home(opts.secret_file) && !opts.homes)) {
        out += "The secret files in the homes (" + opts.secret_file +
               ") are read only with --homes: without it, token names and recovery codes are not shown, and "
               "accounts that never logged in are not listed.\n";
    }
    problems.insert(problems.end(), report.problems.begin(), report.problems.end());
    if (!problems.empty()) {
        out += "\nProblems:\n";
        for (const std::string& p : problems) {
            out += "  " + p + "\n";
        }
    }
    return out;
}

std::string list_json(const ListReport& report, const CliOptions& opts, std::time_t now) {
    const bool file = opts.store == pam_totp::StoreKind::file;
    JsonArray accounts;
    for (const AccountView& v : report.accounts) {
        accounts.add_raw(account_json(v, opts, now));
    }
    JsonArray problems;
    for (const std::string& p : report.problems) {
        problems.add_raw(json_string(p));
    }
    JsonObject o;
    o.add("secret_file_template", opts.secret_file)
        .add("homes", opts.homes)
        .add("store", file ? "file" : "postgresql")
        .add_text("state_dir", file ? std::optional<std::string>(opts.state_dir) : std::nullopt)
        .add_text("store_config", file ? std::nullopt : std::optional<std::string>(opts.store_config))
        .add_time("now", now)
        .add_raw("accounts", accounts.str())
        .add_raw("problems", problems.str());
    return o.str() + "\n";
}

std::string show_text(const AccountView& v, const CliOptions& opts, const std::string& state_where, std::time_t now) {
    Table info({"User:", v.user});
    switch (v.secret) {
        case SecretStatus::found:
            info.add({"Secret file:", v.secret_path + " (format " + std::to_string(v.format) + ", enrolled " +
                                          utc_text(v.enrolled) + " UTC" +
                                          (v.window ? ", window " + std::to_string(*v.window) : std::string()) + ")"});
            info.add({"Recovery codes:", (v.recovery_left ? std::to_string(*v.recovery_left) : std::string("?")) +
                                             " of " + std::to_string(v.recovery_codes) + " left"});
            break;
        case SecretStatus::missing:
            info.add({"Secret file:",
                      "none at " + v.secret_path + " (not enrolled; totp-enroll --user " + v.user + " enrolls)"});
            break;
        case SecretStatus::no_account:
            info.add({"Secret file:", "none (the account database has no " + v.user + ")"});
            break;
        default:
            info.add({"Secret file:", std::string(secret_status_name(v.secret)) + " (see Problems)" +
                                          (v.secret_path.empty() ? "" : ": " + v.secret_path)});
            break;
    }
    const bool state = has_state(v);
    const pam_totp::Budget& b = v.record.budget;
    if (v.state == StateStatus::error) {
        info.add({"State:", "cannot be read (" + v.state_problem + ")"});
    } else if (!state) {
        info.add({"State:", "none in " + state_where + " (no login has used a code yet)"});
    } else {
        info.add({"State:", state_where});
        if (v.record.last_login) {
            const pam_totp::LastLogin& l = *v.record.last_login;
            info.add({"Last login:", utc_text(l.when) + " UTC, service " + or_dash(l.service) + ", from " +
                                         or_dash(l.rhost) + ", tty " + or_dash(l.tty)});
        } else {
            info.add({"Last login:", "none yet"});
        }
        info.add({"Wrong codes:", std::to_string(failures_in_window(v, opts, now)) + " within the last " +
                                      std::to_string(opts.rate.fail_interval) + " s (a lockout at " +
                                      std::to_string(opts.rate.deny) + "); " + std::to_string(b.since_success) +
                                      " since the last successful login"});
        if (pam_totp::is_locked(b, now)) {
            info.add({"Lockout:", "until " + utc_text(b.locked_until) + " UTC (" +
                                      duration_text(pam_totp::lock_remaining(b, now)) + " left; " +
                                      plural(b.lockouts, "lockout") + " in a row); totp-admin --reset " + v.user +
                                      " ends it"});
        } else if (b.lockouts > 0) {
            info.add({"Lockout:", "none now; " + plural(b.lockouts, "lockout") +
                                      " in a row since the last successful login (the next one lasts longer)"});
        } else {
            info.add({"Lockout:", "none"});
        }
        const std::time_t debt = pam_totp::debt(b, now);
        if (debt > 0) {
            info.add({"Debt:", std::to_string(debt) + " s of wrong codes' debt (the long limit, paid back by time)"});
        }
        if (v.record.charge) {
            info.add({"Unsettled:", "an attempt at " + utc_text(*v.record.charge) +
                                        " UTC was cut short; the next login counts it as a wrong code"});
        }
    }
    std::string out = info.str();
    if (!v.tokens.empty()) {
        Table tokens({"TOKEN", "TYPE", "ALGORITHM", "DIGITS", "PERIOD", "CODES USED UNTIL (UTC)", "CLOCK OFFSET",
                      "NEXT COUNTER", "ADDED (UTC)"});
        for (const TokenView& t : v.tokens) {
            const bool totp = t.type == TokenType::totp;
            const std::string used = totp && t.used_until() > 0 ? utc_text(t.used_until()) : "-";
            std::string offset = "-";
            if (totp) {
                offset = signed_seconds(t.clock_offset()) + (t.drift_observed() ? " (observed)" : "");
            }
            std::string name = t.name;
            if (t.unsettled()) {
                name += " *";
            }
            tokens.add({name, std::string(pam_totp::token_type_name(t.type)),
                        std::string(pam_totp::algorithm_name(t.params.algorithm)), std::to_string(t.params.digits),
                        totp ? std::to_string(t.params.period) + " s" : "-", used, offset,
                        totp ? "-" : std::to_string(t.next_counter()), t.added > 0 ? utc_text(t.added) : "-"});
        }
        out += "\n" + tokens.str();
        if (std::any_of(v.tokens.begin(), v.tokens.end(), [](const TokenView& t) { return t.unsettled(); })) {
            out +=
                "* an attempt at this token was cut short; the next login refuses every code it could have "
                "used\n";
        }
    }
    const std::vector<std::string> problems = problems_of(v);
    if (!problems.empty()) {
        out += "\nProblems:\n";
        for (const std::string& p : problems) {
            out += "  " + p + "\n";
        }
    }
    return out;
}

std::string show_json(const AccountView& view, const CliOptions& opts, std::time_t now) {
    return account_json(view, opts, now) + "\n";
}

}  // namespace totp_admin
