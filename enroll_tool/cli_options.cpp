#include "cli_options.h"

#include <getopt.h>

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "core/files/kv_format.h"
#include "enroll_tool/enrollment.h"

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
    opt_import_pam_oath,
    opt_add,
    opt_list,
    opt_resync,
    opt_name,
    opt_type,
    opt_counter,
    opt_secret_from,
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
    {"import-pam-oath", required_argument, nullptr, opt_import_pam_oath},
    {"add", no_argument, nullptr, opt_add},
    {"list", no_argument, nullptr, opt_list},
    {"resync", no_argument, nullptr, opt_resync},
    {"name", required_argument, nullptr, opt_name},
    {"type", required_argument, nullptr, opt_type},
    {"counter", required_argument, nullptr, opt_counter},
    {"secret-from", required_argument, nullptr, opt_secret_from},
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
           "              [--name NAME] [--type totp|hotp] [--counter N] [--secret-from FILE|-]\n"
           "  totp-enroll --add --name NAME [--type totp|hotp] [--counter N] [--secret-from FILE|-] ...\n"
           "  totp-enroll --list [--json] | --remove [--name NAME] | --resync [--name NAME]\n"
           "  totp-enroll --status [--json] | --new-recovery-codes  [--user NAME] [--secret-file PATH]\n"
           "  totp-enroll --import-google-authenticator FILE [--name NAME] [--user NAME] [--secret-file PATH] "
           "[--force]\n"
           "  totp-enroll --import-pam-oath USERSFILE [--name NAME] [--user NAME] [--secret-file PATH] [--force]\n"
           "\n"
           "Sets up one-time codes (TOTP, RFC 6238; HOTP, RFC 4226) for pam_totp: shows a QR\n"
           "code for your authenticator app, checks the first code from it, then writes the\n"
           "secret file (default ~/.pam_totp) and prints recovery codes once.\n"
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
           "  --name NAME              the token's name (default: \"default\" for the first)\n"
           "  --type totp|hotp         time-based (default) or counter-based codes\n"
           "  --counter N              an HOTP token's counter now (default 0)\n"
           "  --secret-from FILE|-     an existing secret (base32 or hex), e.g. of a hardware token\n"
           "  --add                    enroll another token, keeping the others\n"
           "  --list [--json]          show the tokens (never a secret)\n"
           "  --remove [--name NAME]   delete one token, or the whole secret file (asks first)\n"
           "  --resync [--name NAME]   re-align a token's clock or counter from two codes\n"
           "  --status [--json]        show the enrollment (never the secret)\n"
           "  --new-recovery-codes     replace all recovery codes; the old ones stop working\n"
           "  --import-google-authenticator FILE\n"
           "                           convert a google-authenticator file (TOTP or HOTP)\n"
           "  --import-pam-oath USERSFILE\n"
           "                           convert the user's lines of a pam_oath usersfile\n"
           "  --store file|postgresql  pam_totp's store=, for --status (default file)\n"
           "  --state-dir DIR          pam_totp's state_dir=, for --status (default /var/lib/pam_totp)\n"
           "  --store-config PATH      pam_totp's store_config=, for --status (default /etc/pam_totp/store.conf)\n"
           "\n"
           "Exit status: 0 done, 1 not done, 2 usage error. See totp-enroll(1).\n";
}

namespace {

// Which options were given, for the checks of what goes with what.
struct Given {
    int modes = 0;
    bool enroll_only = false;  // --issuer, --label, --algorithm, --digits, --period, --qr
    bool period = false;
    bool type = false;
    bool counter = false;
    bool recovery_codes = false;
};

bool one_of(Mode m, std::initializer_list<Mode> modes) {
    return std::find(modes.begin(), modes.end(), m) != modes.end();
}

// The combinations that make no sense, each with what to do instead.
pam_totp::Status check_combinations(const CliOptions& o, const Given& g) {
    if (g.modes > 1) {
        return usage(
            "--add, --list, --status, --new-recovery-codes, --remove, --resync, --import-google-authenticator, "
            "--import-pam-oath, --help and --version exclude each other");
    }
    if (o.mode == Mode::new_recovery_codes && o.recovery_codes == 0) {
        return usage("--new-recovery-codes makes at least one code; to have none, enroll anew with --recovery-codes 0");
    }
    if (o.json && !one_of(o.mode, {Mode::status, Mode::list})) {
        return usage("--json goes with --status or --list");
    }
    const bool enrolling = one_of(o.mode, {Mode::enroll, Mode::add});
    if (g.enroll_only && !enrolling) {
        return usage("--issuer, --label, --algorithm, --digits, --period and --qr are for enrolling only");
    }
    if ((g.type || g.counter || o.secret_from) && !enrolling) {
        return usage("--type, --counter and --secret-from are for enrolling (with or without --add) only");
    }
    if (g.recovery_codes &&
        !one_of(o.mode, {Mode::enroll, Mode::new_recovery_codes, Mode::status, Mode::remove, Mode::import_ga})) {
        return usage(
            "--recovery-codes goes with the first enrollment and --new-recovery-codes; an added or "
            "imported token shares the recovery codes already there");
    }
    if (g.counter && o.type != pam_totp::TokenType::hotp) {
        return usage("--counter goes with --type hotp (time-based tokens have no counter)");
    }
    if (o.type == pam_totp::TokenType::hotp) {
        if (g.period) {
            return usage("--period is for time-based tokens; an HOTP token counts button presses instead");
        }
        if (o.params.algorithm != pam_totp::Algorithm::sha1) {
            return usage("--type hotp uses sha1 (RFC 4226 section 5); drop --algorithm");
        }
    }
    if (o.name && !one_of(o.mode, {Mode::enroll, Mode::add, Mode::remove, Mode::resync, Mode::import_ga,
                                   Mode::import_pam_oath})) {
        return usage("--name goes with enrolling, --add, --remove, --resync and the imports (--list shows the names)");
    }
    if (o.mode == Mode::add && !o.name) {
        return usage("--add needs --name NAME, the new token's name (for example --name backup-phone)");
    }
    return {};
}

}  // namespace

pam_totp::Result<CliOptions> parse_cli(int argc, char** argv) {
    CliOptions o;
    Given given;
    const auto set_mode = [&](Mode m) {
        o.mode = m;
        ++given.modes;
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
                given.enroll_only = true;
                break;
            case opt_label:
                o.label = std::string(arg);
                given.enroll_only = true;
                break;
            case opt_algorithm: {
                const auto alg = pam_totp::parse_algorithm(arg);
                if (!alg) {
                    return usage("--algorithm must be sha1, sha256 or sha512");
                }
                o.params.algorithm = *alg;
                given.enroll_only = true;
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
                given.enroll_only = true;
                given.period = given.period || c == opt_period;
                break;
            }
            case opt_recovery_codes: {
                auto n = pam_totp::parse_decimal(arg, 100);
                if (!n) {
                    return usage("--recovery-codes must be a number from 0 to 100");
                }
                o.recovery_codes = static_cast<std::size_t>(n.value());
                given.recovery_codes = true;
                break;
            }
            case opt_qr: {
                const auto style = pam_totp::parse_qr_style(arg);
                if (!style) {
                    return usage("--qr must be utf8, ansi, ascii or none");
                }
                o.qr = *style;
                given.enroll_only = true;
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
            case opt_import_pam_oath:
                set_mode(Mode::import_pam_oath);
                o.import_file = std::string(arg);
                break;
            case opt_add:
                set_mode(Mode::add);
                break;
            case opt_list:
                set_mode(Mode::list);
                break;
            case opt_resync:
                set_mode(Mode::resync);
                break;
            case opt_name:
                if (const std::string problem = pam_totp::token_name_problem(arg); !problem.empty()) {
                    return usage("--name: " + problem + " (for example phone, backup-phone, yubikey.5)");
                }
                o.name = std::string(arg);
                break;
            case opt_type:
                if (arg == "totp") {
                    o.type = pam_totp::TokenType::totp;
                } else if (arg == "hotp") {
                    o.type = pam_totp::TokenType::hotp;
                } else {
                    return usage("--type must be totp (time-based) or hotp (counter-based)");
                }
                given.type = true;
                break;
            case opt_counter: {
                auto n = pam_totp::parse_decimal(arg, pam_totp::max_start_counter);
                if (!n) {
                    return usage("--counter must be a whole number from 0 to " +
                                 std::to_string(pam_totp::max_start_counter));
                }
                o.counter = n.value();
                given.counter = true;
                break;
            }
            case opt_secret_from:
                if (arg.empty()) {
                    return usage("--secret-from needs a file name, or - for standard input");
                }
                o.secret_from = std::string(arg);
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
    if (pam_totp::Status st = check_combinations(o, given); !st) {
        return st.error();
    }
    return o;
}

}  // namespace totp_enroll
