#include "admin_tool/inspect.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <ctime>
#include <map>
#include <set>
#include <string>

#include "admin_tool/account_report.h"
#include "admin_tool/account_view.h"
#include "admin_tool/state_records.h"
#include "admin_tool/store_admin.h"
#include "core/files/path_template.h"
#include "core/util/write_all.h"

namespace totp_admin {
namespace {

int fail(const std::string& message, int status = exit_not_done) {
    (void)pam_totp::write_all(STDERR_FILENO, "totp-admin: " + message + "\n");
    return status;
}

int print(const std::string& text, int status = exit_done) {
    if (!pam_totp::write_all(STDOUT_FILENO, text)) {
        return exit_not_done;  // standard output is gone: nowhere left to say so
    }
    return status;
}

// The state and the files in the homes are root's (and the module's) to
// read: said once, rather than as one refusal per account.
bool root_or_said(const char* command) {
    if (::geteuid() == 0) {
        return true;
    }
    (void)fail(std::string(command) +
               " needs root: the state and the users' secret files are root's to read "
               "(run it with sudo)");
    return false;
}

// True when nothing is at `path`: root looks (lstat, the last name not
// followed), without reading anything.
bool no_such_file(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) != 0 && errno == ENOENT;
}

}  // namespace

int run_list(const CliOptions& opts) {
    if (!root_or_said("--list")) {
        return exit_not_done;
    }
    const std::time_t now = ::time(nullptr);
    auto snapshot = StateSnapshot::load(opts);
    if (!snapshot) {
        return fail(snapshot.error().message);
    }
    const SecretReader reader(opts.secret_file);
    std::map<std::string, AccountView> views;
    std::set<std::string> read_done;
    ListReport report;
    const auto add = [&views](const std::string& user) { views[user].user = user; };

    // Every account the state store has a state for. A state that cannot
    // be read is shown on its account when its name says which.
    for (const auto& [name, stored] : snapshot.value()->states()) {
        if (stored.state) {
            add(stored.state->account);
        } else if (name.starts_with("u-") && pam_totp::validate_user_name(name.substr(2))) {
            add(name.substr(2));
        } else {
            report.problems.push_back(stored.problem);
        }
    }
    // Every file in the central secret directory.
    auto central = reader.central_names();
    if (!central) {
        return fail(central.error().message);
    }
    for (const std::string& user : central.value()) {
        add(user);
    }
    // Every account's home file, read as the module reads it.
    if (opts.homes) {
        for (const AccountEntry& entry : all_accounts()) {
            if (!pam_totp::validate_user_name(entry.name)) {
                continue;  // a name the module refuses has no secret file it reads
            }
            AccountView probe;
            probe.user = entry.name;
            reader.read(probe, entry);
            const auto known = views.find(entry.name);
            if (probe.secret != SecretStatus::found && !probe.secret_path.empty() && no_such_file(probe.secret_path)) {
                // The module refuses the way there (a home in a directory
                // others may write, as /var/mail), but there is no file:
                // an account that never enrolled, not a problem to list.
                probe.secret = SecretStatus::missing;
                probe.secret_problem.clear();
            }
            if (probe.secret == SecretStatus::missing && known == views.end()) {
                continue;  // not enrolled
            }
            views[entry.name] = std::move(probe);
            read_done.insert(entry.name);
        }
    }
    for (auto& [user, view] : views) {
        if (!read_done.contains(user)) {
            if (!reader.home_based()) {
                reader.read(view, std::nullopt);
            } else if (opts.homes) {
                view.secret = SecretStatus::no_account;
                view.secret_problem = "the account database has no " + user + ", so the module finds no secret file";
            } else {
                view.secret = SecretStatus::not_read;
            }
        }
        read_state(view, *snapshot.value());
        report.accounts.push_back(std::move(view));
    }
    return print(opts.json ? list_json(report, opts, now) : list_text(report, opts, now));
}

int run_show(const CliOptions& opts) {
    if (pam_totp::Status st = pam_totp::validate_user_name(opts.user); !st) {
        return fail("--show: " + st.error().message, exit_usage);
    }
    if (!root_or_said("--show")) {
        return exit_not_done;
    }
    const std::time_t now = ::time(nullptr);
    auto records = StoreRecords::open(opts);
    if (!records) {
        return fail(records.error().message);
    }
    AccountView view;
    view.user = opts.user;
    SecretReader(opts.secret_file).read(view, std::nullopt);
    read_state(view, *records.value());
    const bool no_file = view.secret == SecretStatus::missing || view.secret == SecretStatus::no_account;
    if (no_file && view.state == StateStatus::none) {
        return fail(
            opts.user + " is not enrolled: " +
            (view.secret == SecretStatus::no_account ? "no such account" : "no secret file at " + view.secret_path) +
            ", and no state in " + records.value()->where() +
            ". Check the name, and give the PAM line's secret=, store= and state_dir= as --secret-file, "
            "--store and --state-dir.");
    }
    const std::string text =
        opts.json ? show_json(view, opts, now) : show_text(view, opts, records.value()->where(), now);
    // What could not be read is in the report; the command is not done.
    return print(text, view.state == StateStatus::error ? exit_not_done : exit_done);
}

}  // namespace totp_admin
