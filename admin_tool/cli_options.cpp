#include "admin_tool/cli_options.h"

#include <getopt.h>

#include <string_view>

#include "core/files/kv_format.h"
#include "core/files/path_template.h"
#include "core/login/module_options.h"
#include "core/util/text.h"

namespace totp_admin {
namespace {

using pam_totp::Errc;
using pam_totp::make_error;

enum LongOnly {
    opt_list = 1000,
    opt_show,
    opt_reset,
    opt_init_store,
    opt_migrate,
    opt_json,
    opt_homes,
    opt_secret_file,
    opt_store_config,
    opt_state_dir,
    opt_store,
    opt_deny,
    opt_fail_interval,
    opt_conninfo,
    opt_host_role,
    opt_help,
    opt_version,
};

constexpr struct option long_options[] = {
    {"list", no_argument, nullptr, opt_list},
    {"show", required_argument, nullptr, opt_show},
    {"reset", required_argument, nullptr, opt_reset},
    {"init-store", no_argument, nullptr, opt_init_store},
    {"migrate-to-store", no_argument, nullptr, opt_migrate},
    {"json", no_argument, nullptr, opt_json},
    {"homes", no_argument, nullptr, opt_homes},
    {"secret-file", required_argument, nullptr, opt_secret_file},
    {"store-config", required_argument, nullptr, opt_store_config},
    {"state-dir", required_argument, nullptr, opt_state_dir},
    {"store", required_argument, nullptr, opt_store},
    {"deny", required_argument, nullptr, opt_deny},
    {"fail-interval", required_argument, nullptr, opt_fail_interval},
    {"conninfo", required_argument, nullptr, opt_conninfo},
    {"host-role", required_argument, nullptr, opt_host_role},
    {"help", no_argument, nullptr, opt_help},
    {"version", no_argument, nullptr, opt_version},
    {nullptr, 0, nullptr, 0},
};

pam_totp::Error usage(const std::string& problem) {
    return make_error(Errc::invalid_argument, problem + "\nRun totp-admin --help for the options.");
}

// A number within [min, max], as the module's option of the same name
// takes it.
pam_totp::Result<std::uint64_t> number(std::string_view flag, std::string_view text, std::uint64_t min,
                                       std::uint64_t max) {
    auto n = pam_totp::parse_decimal(text, max);
    if (!n || n.value() < min) {
        return usage(std::string(flag) + " must be a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max));
    }
    return n.value();
}

// --secret-file is the module's secret= template: checked by expanding it
// for a sample account, so that a bad % sequence is a usage error now
// rather than one error per account later.
pam_totp::Status check_template(const std::string& templ) {
    if (templ.empty() || templ.size() > pam_totp::max_path_option || !pam_totp::printable_ascii(templ)) {
        return usage("--secret-file must be a path template of printable characters, at most 4096");
    }
    auto sample = pam_totp::expand_path_template(templ, "root", "/root");
    if (!sample) {
        return usage("--secret-file " + templ + ": " + sample.error().message +
                     " (write it as the PAM line's secret=, e.g. ~/.pam_totp or /etc/pam_totp/secrets/%u)");
    }
    return {};
}

}  // namespace

const char* usage_text() {
    return "Usage: totp-admin --list [--json] [--homes] [WHERE] [--deny N] [--fail-interval SECONDS]\n"
           "       totp-admin --show USER [--json] [WHERE] [--deny N] [--fail-interval SECONDS]\n"
           "       totp-admin --reset USER [--store file|postgresql] [--state-dir DIR] [--store-config PATH]\n"
           "       totp-admin --init-store [--store-config PATH] [--conninfo CONNINFO] [--host-role ROLE]\n"
           "       totp-admin --migrate-to-store [--state-dir DIR] [--store-config PATH]\n"
           "  WHERE: [--secret-file TEMPLATE] [--store file|postgresql] [--state-dir DIR] [--store-config PATH]\n"
           "\n"
           "  --list               every enrolled account found: token names, last login, wrong codes,\n"
           "                       lockout, recovery codes left\n"
           "  --show USER          the same for one account, each token in detail\n"
           "  --json               one JSON document instead of the table (fields in totp-admin(8))\n"
           "  --homes              with --list: read every account's secret file in its home too\n"
           "  --reset USER         end USER's lockout and forget the wrong codes, keeping every used code\n"
           "                       used (no code works twice after it)\n"
           "  --init-store         create or upgrade the schema of the shared PostgreSQL store and print\n"
           "                       the grants its hosts' role needs (run as the database's owner)\n"
           "  --migrate-to-store   copy this host's state (state_dir) into the shared store, keeping\n"
           "                       every used code used and every wrong code counted\n"
           "\n"
           "Where the module finds things (give the values of its options of the same names):\n"
           "  --secret-file TEMPLATE  as secret=: ~ or %h home, %u user (default ~/.pam_totp)\n"
           "  --store KIND         as store=: file (default: state_dir) or postgresql (store.conf)\n"
           "  --state-dir DIR      as state_dir= (default /var/lib/pam_totp)\n"
           "  --store-config PATH  as store_config= (default /etc/pam_totp/store.conf)\n"
           "  --deny N             as deny=: wrong codes before a lockout (default 5)\n"
           "  --fail-interval S    as fail_interval=: the window wrong codes are counted in (default 900)\n"
           "\n"
           "  --conninfo CONNINFO  with --init-store: connect as this (libpq connection string)\n"
           "                       instead of store.conf's conninfo\n"
           "  --host-role ROLE     with --init-store: the role the printed grants name (default: the\n"
           "                       user of store.conf's conninfo)\n"
           "\n"
           "Exit status: 0 done, 1 not done, 2 usage error. See totp-admin(8) and pam_totp(8).\n";
}

pam_totp::Result<CliOptions> parse_cli(int argc, char** argv) {
    CliOptions o;
    bool mode_set = false;
    bool secret_given = false;
    bool limits_given = false;
    const auto set_mode = [&](Mode m, const char* name) -> pam_totp::Status {
        if (mode_set) {
            return usage(std::string(name) + " and another command cannot be given together");
        }
        mode_set = true;
        o.mode = m;
        return {};
    };
    ::opterr = 0;
    ::optind = 1;
    for (;;) {
        const int c = ::getopt_long(argc, argv, "", long_options, nullptr);
        if (c == -1) {
            break;
        }
        const std::string_view arg = ::optarg != nullptr ? ::optarg : "";
        pam_totp::Status st;
        switch (c) {
            case opt_list:
                st = set_mode(Mode::list, "--list");
                break;
            case opt_show:
                st = set_mode(Mode::show, "--show");
                o.user = std::string(arg);
                break;
            case opt_reset:
                st = set_mode(Mode::reset, "--reset");
                o.user = std::string(arg);
                break;
            case opt_init_store:
                st = set_mode(Mode::init_store, "--init-store");
                break;
            case opt_migrate:
                st = set_mode(Mode::migrate_to_store, "--migrate-to-store");
                break;
            case opt_json:
                o.json = true;
                break;
            case opt_homes:
                o.homes = true;
                break;
            case opt_secret_file:
                st = check_template(std::string(arg));
                o.secret_file = std::string(arg);
                secret_given = true;
                break;
            case opt_store:
                if (const auto kind = pam_totp::parse_store_kind(arg)) {
                    o.store = *kind;
                } else {
                    return usage("--store must be file or postgresql");
                }
                break;
            case opt_deny: {
                auto n = number("--deny", arg, 1, pam_totp::max_deny);
                if (!n) {
                    return n.error();
                }
                o.rate.deny = static_cast<unsigned>(n.value());
                limits_given = true;
                break;
            }
            case opt_fail_interval: {
                auto n = number("--fail-interval", arg, 1, static_cast<std::uint64_t>(pam_totp::max_seconds_option));
                if (!n) {
                    return n.error();
                }
                o.rate.fail_interval = static_cast<std::time_t>(n.value());
                limits_given = true;
                break;
            }
            case opt_help:
                st = set_mode(Mode::help, "--help");
                break;
            case opt_version:
                st = set_mode(Mode::version, "--version");
                break;
            case opt_store_config:
            case opt_state_dir:
                if (arg.empty() || arg.front() != '/') {
                    return usage(std::string(c == opt_store_config ? "--store-config" : "--state-dir") +
                                 " needs an absolute path");
                }
                (c == opt_store_config ? o.store_config : o.state_dir) = std::string(arg);
                break;
            case opt_conninfo:
                o.conninfo = std::string(arg);
                break;
            case opt_host_role:
                o.host_role = std::string(arg);
                break;
            case '?':
            default:
                return usage(std::string(argv[::optind - 1]) + ": unknown option or missing value");
        }
        if (!st) {
            return st.error();
        }
    }
    if (::optind < argc) {
        return usage(std::string("unexpected argument '") + argv[::optind] + "'");
    }
    if (!mode_set) {
        return usage("no command given (--list, --show USER, --reset USER, --init-store or --migrate-to-store)");
    }
    const bool looks = o.mode == Mode::list || o.mode == Mode::show;
    if ((o.conninfo || o.host_role) && o.mode != Mode::init_store) {
        return usage("--conninfo and --host-role go with --init-store");
    }
    if (o.json && !looks) {
        return usage("--json goes with --list and --show");
    }
    if ((secret_given || limits_given) && !looks) {
        return usage("--secret-file, --deny and --fail-interval go with --list and --show");
    }
    if (o.homes && o.mode != Mode::list) {
        return usage("--homes goes with --list (--show reads the account's home file anyway)");
    }
    if (o.homes && !pam_totp::template_uses_home(o.secret_file)) {
        return usage("--homes reads the secret file in each account's home, but --secret-file " + o.secret_file +
                     " names none (~ or %h); without --homes the files of that template are listed");
    }
    return o;
}

}  // namespace totp_admin
