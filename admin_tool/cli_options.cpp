#include "admin_tool/cli_options.h"

#include <getopt.h>

#include <string_view>

namespace totp_admin {
namespace {

using pam_totp::Errc;
using pam_totp::make_error;

enum LongOnly {
    opt_init_store = 1000,
    opt_migrate,
    opt_store_config,
    opt_state_dir,
    opt_conninfo,
    opt_host_role,
    opt_reset,
    opt_store,
    opt_help,
    opt_version,
};

constexpr struct option long_options[] = {
    {"init-store", no_argument, nullptr, opt_init_store},
    {"migrate-to-store", no_argument, nullptr, opt_migrate},
    {"store-config", required_argument, nullptr, opt_store_config},
    {"state-dir", required_argument, nullptr, opt_state_dir},
    {"conninfo", required_argument, nullptr, opt_conninfo},
    {"host-role", required_argument, nullptr, opt_host_role},
    {"reset", required_argument, nullptr, opt_reset},
    {"store", required_argument, nullptr, opt_store},
    {"help", no_argument, nullptr, opt_help},
    {"version", no_argument, nullptr, opt_version},
    {nullptr, 0, nullptr, 0},
};

pam_totp::Error usage(const std::string& problem) {
    return make_error(Errc::invalid_argument, problem + "\nRun totp-admin --help for the options.");
}

}  // namespace

const char* usage_text() {
    return "Usage: totp-admin --reset USER [--store file|postgresql] [--state-dir DIR] [--store-config PATH]\n"
           "       totp-admin --init-store [--store-config PATH] [--conninfo CONNINFO] [--host-role ROLE]\n"
           "       totp-admin --migrate-to-store [--state-dir DIR] [--store-config PATH]\n"
           "\n"
           "  --reset USER         end USER's lockout and forget the wrong codes, keeping every used code\n"
           "                       used (no code works twice after it)\n"
           "  --store KIND         file (default: state_dir) or postgresql (store.conf), as the module's store=\n"
           "  --init-store         create or upgrade the schema of the shared PostgreSQL store and print\n"
           "                       the grants its hosts' role needs (run as the database's owner)\n"
           "  --migrate-to-store   copy this host's state (state_dir) into the shared store, keeping\n"
           "                       every used code used and every wrong code counted\n"
           "  --store-config PATH  the store's configuration (default /etc/pam_totp/store.conf)\n"
           "  --state-dir DIR      this host's state directory (default /var/lib/pam_totp)\n"
           "  --conninfo CONNINFO  with --init-store: connect as this (libpq connection string)\n"
           "                       instead of store.conf's conninfo\n"
           "  --host-role ROLE     with --init-store: the role the printed grants name (default: the\n"
           "                       user of store.conf's conninfo)\n"
           "\n"
           "See totp-admin(8) and pam_totp(8), FLEET.\n";
}

pam_totp::Result<CliOptions> parse_cli(int argc, char** argv) {
    CliOptions o;
    bool mode_set = false;
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
            case opt_init_store:
                st = set_mode(Mode::init_store, "--init-store");
                break;
            case opt_migrate:
                st = set_mode(Mode::migrate_to_store, "--migrate-to-store");
                break;
            case opt_reset:
                st = set_mode(Mode::reset, "--reset");
                o.user = std::string(arg);
                break;
            case opt_store:
                if (const auto kind = pam_totp::parse_store_kind(arg)) {
                    o.store = *kind;
                } else {
                    return usage("--store must be file or postgresql");
                }
                break;
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
        return usage("no command given");
    }
    if ((o.conninfo || o.host_role) && o.mode != Mode::init_store) {
        return usage("--conninfo and --host-role go with --init-store");
    }
    return o;
}

}  // namespace totp_admin
