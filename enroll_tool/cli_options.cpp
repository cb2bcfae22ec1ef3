#include "cli_options.h"

#include <getopt.h>

#include <string_view>

#include "core/files/kv_format.h"

namespace totp_enroll {
namespace {

using pam_totp::Errc;
using pam_totp::make_error;

enum LongOnly {
    opt_user = 1000,
    opt_secret_file,
    opt_issuer,
    opt_label,
    opt_algorithm,
    opt_digits,
    opt_period,
    opt_recovery_codes,
    opt_qr,
    opt_force,
    opt_status,
    opt_json,
    opt_new_recovery,
    opt_remove,
    opt_import,
    opt_state_dir,
    opt_store,
    opt_store_config,
    opt_help,
    opt_version,
};

constexpr struct option long_options[] = {
    {"user", required_argument, nullptr, opt_user},
    {"secret-file", required_argument, nullptr, opt_secret_file},
    {"issuer", required_argument, nullptr, opt_issuer},
    {"label", required_argument, nullptr, opt_label},
    {"algorithm", required_argument, nullptr, opt_algorithm},
    {"digits", required_argument, nullptr, opt_digits},
    {"period", required_argument, nullptr, opt_period},
    {"recovery-codes", required_argument, nullptr, opt_recovery_codes},
    {"qr", required_argument, nullptr, opt_qr},
    {"force", no_argument, nullptr, opt_force},
    {"status", no_argument, nullptr, opt_status},
    {"json", no_argument, nullptr, opt_json},
    {"new-recovery-codes", no_argument, nullptr, opt_new_recovery},
    {"remove", no_argument, nullptr, opt_remove},
    {"import-google-authenticator", required_argument, nullptr, opt_import},
    {"state-dir", required_argument, nullptr, opt_state_dir},
    {"store", required_argument, nullptr, opt_store},
    {"store-config", required_argument, nullptr, opt_store_config},
    {"help", no_argument, nullptr, opt_help},
    {"version", no_argument, nullptr, opt_version},
    {nullptr, 0, nullptr, 0},
};

pam_totp::Error usage(const std::string& problem) {
    return make_error(Errc::invalid_argument, problem + "\nRun totp-enroll --help for the options.");
}

}  // namespace

const char* usage_text() {
    return "Usage:\n"
           "  totp-enroll [--user NAME] [--secret-file PATH] [--issuer TEXT] [--label TEXT]\n"
           "              [--algorithm sha1|sha256|sha512] [--digits 6|8] [--period SECONDS]\n"
           "              [--recovery-codes N] [--qr utf8|ansi|ascii|none] [--force]\n"
           "  totp-enroll --status [--json] | --new-recovery-codes | --remove  [--user NAME] [--secret-file PATH]\n"
           "  totp-enroll --import-google-authenticator FILE [--user NAME] [--secret-file PATH] [--force]\n"
           "\n"
           "Sets up time-based one-time codes (RFC 6238) for pam_totp: shows a QR code for\n"
           "your authenticator app, checks the first code from it, then writes the secret\n"
           "file (default ~/.pam_totp) and prints recovery codes once.\n"
           "\n"
           "  --user NAME              enroll NAME instead of yourself (root only)\n"
           "  --secret-file PATH       where the secret goes; ~, %h (home), %u (user) expand\n"
           "  --issuer TEXT            the name the app shows (default: this host's name)\n"
           "  --label TEXT             the account the app shows (default: USER@HOST)\n"
           "  --algorithm ALG          sha1 (default), sha256 or sha512\n"
           "  --digits N               6 (default) or 8\n"
           "  --period SECONDS         15 to 120 (default 30)\n"
           "  --recovery-codes N       how many recovery codes, 0 to 100 (default 10)\n"
           "  --qr STYLE               utf8, ansi, ascii or none (default: utf8 on a terminal)\n"
           "  --force                  replace an existing enrollment; --remove without asking\n"
           "  --status [--json]        show the enrollment (never the secret)\n"
           "  --new-recovery-codes     replace all recovery codes; the old ones stop working\n"
           "  --remove                 delete the secret file (asks first)\n"
           "  --import-google-authenticator FILE\n"
           "                           convert a google-authenticator file (TOTP only)\n"
           "  --store file|postgresql  pam_totp's store=, for --status (default file)\n"
           "  --state-dir DIR          pam_totp's state_dir=, for --status (default /var/lib/pam_totp)\n"
           "  --store-config PATH      pam_totp's store_config=, for --status (default /etc/pam_totp/store.conf)\n"
           "\n"
           "Exit status: 0 done, 1 not done, 2 usage error. See totp-enroll(1).\n";
}

pam_totp::Result<CliOptions> parse_cli(int argc, char** argv) {
    CliOptions o;
    int modes = 0;
    bool enroll_only = false;  // an option that makes sense only when enrolling
    const auto set_mode = [&](Mode m) {
        o.mode = m;
        ++modes;
    };
    ::opterr = 0;  // our own messages
    ::optind = 1;
    for (;;) {
        int index = 0;
        const int c = ::getopt_long(argc, argv, "", long_options, &index);
        if (c == -1) {
            break;
        }
        const std::string_view arg = ::optarg != nullptr ? ::optarg : "";
        switch (c) {
            case opt_user:
                o.user = std::string(arg);
                break;
            case opt_secret_file:
                o.secret_file = std::string(arg);
                break;
            case opt_issuer:
                o.issuer = std::string(arg);
                enroll_only = true;
                break;
            case opt_label:
                o.label = std::string(arg);
                enroll_only = true;
                break;
            case opt_algorithm: {
                const auto alg = pam_totp::parse_algorithm(arg);
                if (!alg) {
                    return usage("--algorithm must be sha1, sha256 or sha512");
                }
                o.params.algorithm = *alg;
                enroll_only = true;
                break;
            }
            case opt_digits:
            case opt_period: {
                // totp.h's validator, the one the secret file and the module use.
                auto n = pam_totp::parse_decimal(arg, 1000);
                const auto value = n ? static_cast<unsigned>(n.value()) : 0U;
                const std::string problem =
                    c == opt_digits ? pam_totp::digits_problem(value) : pam_totp::period_problem(value);
                if (!n || !problem.empty()) {
                    return usage("--" + problem);
                }
                (c == opt_digits ? o.params.digits : o.params.period) = value;
                enroll_only = true;
                break;
            }
            case opt_recovery_codes: {
                auto n = pam_totp::parse_decimal(arg, 100);
                if (!n) {
                    return usage("--recovery-codes must be a number from 0 to 100");
                }
                o.recovery_codes = static_cast<std::size_t>(n.value());
                break;
            }
            case opt_qr: {
                const auto style = pam_totp::parse_qr_style(arg);
                if (!style) {
                    return usage("--qr must be utf8, ansi, ascii or none");
                }
                o.qr = *style;
                enroll_only = true;
                break;
            }
            case opt_force:
                o.force = true;
                break;
            case opt_status:
                set_mode(Mode::status);
                break;
            case opt_json:
                o.json = true;
                break;
            case opt_new_recovery:
                set_mode(Mode::new_recovery_codes);
                break;
            case opt_remove:
                set_mode(Mode::remove);
                break;
            case opt_import:
                set_mode(Mode::import_ga);
                o.import_file = std::string(arg);
                break;
            case opt_state_dir:
                if (arg.empty() || arg.front() != '/') {
                    return usage("--state-dir must be an absolute path");
                }
                o.state_dir = std::string(arg);
                break;
            case opt_store:
                if (const auto kind = pam_totp::parse_store_kind(arg)) {
                    o.store = *kind;
                } else {
                    return usage("--store must be file or postgresql");
                }
                break;
            case opt_store_config:
                if (arg.empty() || arg.front() != '/') {
                    return usage("--store-config must be an absolute path");
                }
                o.store_config = std::string(arg);
                break;
            case opt_help:
                set_mode(Mode::help);
                break;
            case opt_version:
                set_mode(Mode::version);
                break;
            case ':':
                return usage(std::string(argv[::optind - 1]) + " needs a value");
            default: {
                const char* bad = (::optind > 0 && ::optind <= argc) ? argv[::optind - 1] : "?";
                if (::optopt != 0 && ::optopt < 1000) {
                    return usage("unknown option -" + std::string(1, static_cast<char>(::optopt)));
                }
                // getopt_long reports both unknown options and missing values as '?'.
                const std::string_view b(bad);
                bool known = false;
                for (const auto& lo : long_options) {
                    if (lo.name != nullptr && b == std::string("--") + lo.name) {
                        known = true;
                    }
                }
                return usage(known ? std::string(b) + " needs a value" : "unknown option " + std::string(b));
            }
        }
    }
    if (::optind < argc) {
        return usage("unexpected argument '" + std::string(argv[::optind]) + "'");
    }
    if (modes > 1) {
        return usage(
            "--status, --new-recovery-codes, --remove, --import-google-authenticator, --help and --version "
            "exclude each other");
    }
    if (o.mode == Mode::new_recovery_codes && o.recovery_codes == 0) {
        return usage("--new-recovery-codes makes at least one code; to have none, enroll anew with --recovery-codes 0");
    }
    if (o.json && o.mode != Mode::status) {
        return usage("--json goes with --status");
    }
    if (enroll_only && o.mode != Mode::enroll) {
        return usage("--issuer, --label, --algorithm, --digits, --period and --qr are for enrolling only");
    }
    return o;
}

}  // namespace totp_enroll
