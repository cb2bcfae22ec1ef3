#include "commands.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <string>

#include "command_support.h"
#include "console.h"
#include "core/files/kv_format.h"
#include "core/files/safe_file.h"
#include "core/otp/hotp.h"
#include "core/otp/recovery.h"
#include "core/otp/token.h"
#include "core/store/open_store.h"
#include "core/util/critical_section.h"
#include "core/util/random.h"
#include "enroll_tool/enrollment.h"
#include "enroll_tool/otpauth_uri.h"
#include "enroll_tool/qr_text.h"
#include "enroll_tool/secret_text.h"
#include "report.h"

namespace totp_enroll {
namespace {

using pam_totp::SecretFile;
using pam_totp::SecretFileEditor;
using pam_totp::SecureBuffer;
using pam_totp::TokenEntry;
using pam_totp::TokenType;

constexpr int confirm_tries = 3;
// --secret-from: a secret written down, with room for hex of 1024 bits,
// a prefix and spaces.
constexpr std::size_t max_secret_text = 4096;

// How many of the file's recovery codes are not used yet, from the state
// pam_totp keeps (root only; --store names which): nullopt when it cannot
// be read.
std::optional<std::size_t> recovery_left(const CliOptions& opts, const SecretFile& file) {
    if (::geteuid() != 0) {
        return std::nullopt;  // the state is root's: not even tried
    }
    const auto unknown = [](const pam_totp::Error& e) {
        err("totp-enroll: warning: how many recovery codes are used is not known: " + e.message +
            " (check --store, --state-dir and --store-config against the PAM configuration)\n");
        return std::nullopt;
    };
    auto store = pam_totp::open_state_store({opts.store, opts.state_dir, opts.store_config});
    if (!store) {
        return unknown(store.error());
    }
    auto record = store.value()->peek_token(pam_totp::token_id_of(file.recovery_key()));
    if (!record) {
        return unknown(record.error());
    }
    const pam_totp::TokenRecord none;
    return pam_totp::recovery_codes_left(record.value().value_or(none), file.recovery_hashes);
}

// The secret of --secret-from: a file owned by the caller (or root) that
// nobody else may read, reached through directories nobody else may write
// (root reads only root's files this way), or standard input ("-", not
// echoed on a terminal). It is never shown.
pam_totp::Result<SecureBuffer> read_given_secret(const std::string& source) {
    if (source == "-") {
        out("Enter the token's secret (base32 or hex; it is not shown): ");
        auto line = read_hidden_answer(max_secret_text);
        if (!line) {
            return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                        "no secret on standard input (end of input); nothing was written");
        }
        auto key = pam_totp::decode_secret_text(line->view());
        if (!key) {
            return pam_totp::make_error(key.error().code, "standard input: " + key.error().message);
        }
        return key;
    }
    const std::string path = absolute(source);
    if (path.empty()) {
        return pam_totp::make_error(pam_totp::Errc::io,
                                    "cannot find the current directory; give --secret-from as an absolute path");
    }
    auto text = pam_totp::safe_read_file(
        path, pam_totp::FileRules{.owner = ::getuid(), .root_may_own = true, .max_size = max_secret_text});
    if (!text) {
        return pam_totp::make_error(text.error().code,
                                    "cannot read the secret (--secret-from): " + text.error().message);
    }
    auto key = pam_totp::decode_secret_text(text.value().view());
    if (!key) {
        return pam_totp::make_error(key.error().code, path + ": " + key.error().message);
    }
    return key;
}

// The token to enroll, as the options describe it: a new random secret,
// or the one --secret-from gives.
pam_totp::Result<TokenEntry> prepare_token(const CliOptions& opts, const std::string& name, std::time_t now) {
    TokenEntry token;
    token.name = name;
    token.type = opts.type;
    token.params = opts.params;
    token.counter = opts.type == TokenType::hotp ? opts.counter : 0;
    token.added = now;
    if (pam_totp::Status st = pam_totp::validate_params(token.params); !st) {
        return st.error();
    }
    auto key =
        opts.secret_from ? read_given_secret(*opts.secret_from) : pam_totp::random_bytes(pam_totp::new_key_bytes);
    if (!key) {
        return key.error();
    }
    token.key = std::move(key).value();
    return token;
}

// What the user is asked when confirming `token`.
std::string_view confirm_prompt(const TokenEntry& token, bool from_token) {
    if (!from_token) {
        return "Enter the code from your app: ";
    }
    return token.type == TokenType::hotp ? "Press the token's button and enter the code: "
                                         : "Enter the code the token shows: ";
}

// The QR code, the URI and the secret in groups of four for a new secret;
// a line naming the token for one from --secret-from (never shown). False
// (said) when they cannot be shown.
bool show_intro(const CliOptions& opts, const std::string& heading, const TokenEntry& token, const std::string& issuer,
                const std::string& account) {
    if (opts.secret_from) {
        out(heading + "\nToken " + token.name + ": " + describe_token(token) + ", the secret from " +
            (*opts.secret_from == "-" ? std::string("standard input") : *opts.secret_from) + ".\n\n");
        return true;
    }
    auto uri = token.type == TokenType::hotp
                   ? pam_totp::make_otpauth_hotp_uri(issuer, account, token.key, token.params.digits, token.counter)
                   : pam_totp::make_otpauth_uri(issuer, account, token.key, token.params);
    if (!uri) {
        (void)fail(uri.error().message);
        return false;
    }
    const pam_totp::QrStyle style =
        opts.qr.value_or(stdout_is_terminal() ? pam_totp::QrStyle::utf8 : pam_totp::QrStyle::none);
    auto qr = pam_totp::render_qr(uri.value(), style);
    if (!qr) {
        (void)fail("cannot draw the QR code: " + qr.error().message + "; use --qr none and type the secret");
        return false;
    }
    out(enrollment_intro(heading, qr.value(), uri.value(), token).view());
    return true;
}

// Asks for a code of `token`, up to confirm_tries times. Once one matches
// it was seen on this screen, so the token records it as used: a TOTP
// token refuses that code and every one of an earlier step (the end of
// its step), an HOTP token starts past its counter (RFC 4226 section 7.2:
// the look-ahead; the counter moves past the accepted value only).
pam_totp::Status confirm_token(TokenEntry& token, bool from_token, const std::string& account) {
    for (int attempt = 1; attempt <= confirm_tries; ++attempt) {
        auto code = ask_code(confirm_prompt(token, from_token));
        if (!code) {
            return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                        "no code entered (end of input); nothing was written. Run totp-enroll "
                                        "again when the " +
                                            std::string(from_token ? "token" : "app") + " is ready.");
        }
        if (token.type == TokenType::hotp) {
            auto verdict = pam_totp::hotp_verify(token.key, token.params.digits, code->view(), token.counter,
                                                 pam_totp::default_hotp_window);
            if (!verdict) {
                return verdict.error();
            }
            if (verdict.value().outcome == pam_totp::HotpOutcome::accepted) {
                token.counter = verdict.value().counter + 1;
                return {};
            }
        } else {
            auto verdict = pam_totp::totp_verify(token.key, token.params, code->view(), ::time(nullptr), 1, 0);
            if (!verdict) {
                return verdict.error();
            }
            if (verdict.value().outcome == pam_totp::TotpOutcome::accepted) {
                token.confirmed_until = pam_totp::step_end(verdict.value().step, token.params.period);
                return {};
            }
        }
        if (attempt < confirm_tries) {
            out(wrong_code_hint(token, from_token, confirm_tries - attempt));
        }
    }
    const std::string check =
        from_token ? std::string("Check the secret in --secret-from") +
                         (token.type == TokenType::hotp ? " and the token's counter (--counter)" : "") +
                         ", then run totp-enroll again."
                   : "Check that the phone sets its clock automatically and that you scanned this QR code (the "
                     "entry shows " +
                         account + "), then run totp-enroll again.";
    return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                std::to_string(confirm_tries) + " wrong codes; nothing was written. " + check);
}

// --issuer and --label, checked: false (said, exit_usage) when bad.
bool label_parts(const CliOptions& opts, const std::string& default_account, std::string& issuer,
                 std::string& account) {
    const std::string host = host_name();
    issuer = opts.issuer.value_or(host);
    account = opts.label.value_or(default_account);
    for (const auto& [what, text] : {std::pair<const char*, const std::string&>{"--issuer", issuer},
                                     std::pair<const char*, const std::string&>{"--label", account}}) {
        if (pam_totp::Status st = pam_totp::validate_label_part(what, text); !st) {
            err("totp-enroll: " + st.error().message + "\n");
            return false;
        }
    }
    return true;
}

// Why `token` cannot join `file`, or empty: its name or its secret is
// there already, or the file is full.
std::string addition_problem(const SecretFile& file, const TokenEntry& token, const Target& t) {
    if (file.find(token.name) != nullptr) {
        return "there is already a token named " + token.name + " in " + t.path +
               "; choose another --name (totp-enroll --list shows them), or remove that one first with "
               "totp-enroll --remove --name " +
               token.name;
    }
    if (file.tokens.size() >= pam_totp::max_tokens_per_file) {
        return t.path + " holds " + std::to_string(file.tokens.size()) +
               " tokens already, the most a secret file may; remove one first with totp-enroll --remove --name NAME";
    }
    for (const TokenEntry& other : file.tokens) {
        if (!token.key.empty() && pam_totp::constant_time_equal(other.key.view(), token.key.view())) {
            return "this secret is in " + t.path + " already, as token " + other.name +
                   "; a token is enrolled once (totp-enroll --list shows them)";
        }
    }
    return {};
}

}  // namespace

int run_enroll(const CliOptions& opts, const Target& t) {
    std::string issuer;
    std::string account;
    if (!label_parts(opts, t.user + "@" + host_name(), issuer, account)) {
        return exit_usage;
    }
    // Refuse early, before the user spends time with the phone.
    {
        const auto session = open_session(t, SecretFileEditor::Access::read);
        if (!session) {
            return fail(session.error().message);
        }
        if (session.value().editor.exists() && !opts.force) {
            return fail(already_enrolled(t));
        }
    }
    const std::time_t now = ::time(nullptr);
    auto token = prepare_token(opts, opts.name.value_or(std::string(pam_totp::default_token_name)), now);
    if (!token) {
        return fail(token.error().message);
    }
    if (!show_intro(opts, "Setting up verification codes for " + t.user + ".", token.value(), issuer, account)) {
        return exit_not_done;
    }
    if (pam_totp::Status st = confirm_token(token.value(), opts.secret_from.has_value(), account); !st) {
        return fail(st.error().message);
    }
    std::vector<TokenEntry> tokens;
    tokens.push_back(std::move(token).value());
    auto file = pam_totp::enrollment_of(std::move(tokens), now);
    if (!file) {
        return fail(file.error().message);
    }
    if (opts.recovery_codes > 0) {
        out("Code confirmed. Making recovery codes...\n");
    }
    auto codes = pam_totp::replace_recovery_codes(file.value(), opts.recovery_codes);
    if (!codes) {
        return fail(codes.error().message + "; nothing was written");
    }
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message + "; nothing was written");
    }
    const SecretFileEditor& editor = session.value().editor;
    if (editor.exists() && !opts.force) {
        return fail(already_enrolled(t) + " (it appeared while you were confirming)");
    }
    return write_and_show(editor, file.value(), codes.value(), "Enrolled " + t.user + ": " + t.path + " written.\n");
}

int run_add(const CliOptions& opts, const Target& t) {
    const std::string name = opts.name.value_or(std::string());
    std::string issuer;
    std::string account;
    if (!label_parts(opts, t.user + "@" + host_name() + " (" + name + ")", issuer, account)) {
        return exit_usage;
    }
    const std::string what_next = "run totp-enroll first (without --add) to set up the first token";
    auto current = read_enrollment(t);
    if (!current) {
        return fail(current.error().message);
    }
    if (!current.value()) {
        return fail(not_enrolled(t, what_next));
    }
    // Refuse early, before the user spends time with the token.
    TokenEntry named;
    named.name = name;
    if (const std::string problem = addition_problem(*current.value(), named, t); !problem.empty()) {
        return fail(problem);
    }
    const std::string enrollment_id = current.value()->enrollment_id;
    auto token = prepare_token(opts, name, ::time(nullptr));
    if (!token) {
        return fail(token.error().message);
    }
    if (const std::string problem = addition_problem(*current.value(), token.value(), t); !problem.empty()) {
        return fail(problem + "; nothing was written");
    }
    if (!show_intro(opts, "Adding token " + name + " to the enrollment of " + t.user + ".", token.value(), issuer,
                    account)) {
        return exit_not_done;
    }
    if (pam_totp::Status st = confirm_token(token.value(), opts.secret_from.has_value(), account); !st) {
        return fail(st.error().message);
    }
    // Under the lock: the file as it is now, which must still be the same
    // enrollment with room for this token.
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message + "; nothing was written");
    }
    auto file = read_for_change(session.value(), t, what_next);
    if (!file) {
        return fail(file.error().message + "; nothing was written");
    }
    if (file.value().enrollment_id != enrollment_id) {
        return fail(t.path +
                    " was enrolled anew while you were confirming; nothing was written. Run "
                    "totp-enroll --add again to add the token to the new enrollment.");
    }
    if (const std::string problem = addition_problem(file.value(), token.value(), t); !problem.empty()) {
        return fail(problem + " (it changed while you were confirming); nothing was written");
    }
    file.value().tokens.push_back(std::move(token).value());
    return write_and_show(session.value().editor, file.value(), {},
                          "Added token " + name + " to the enrollment of " + t.user + " (" + t.path +
                              "): " + std::to_string(file.value().tokens.size()) + " tokens now (" +
                              token_names(file.value()) + "); a code from any of them logs in.\n");
}

int run_status(const CliOptions& opts, const Target& t) {
    auto file = read_enrollment(t);
    if (!file) {
        return fail(file.error().message);
    }
    // Used recovery codes are in the root-only state; without access, unknown.
    const std::optional<std::size_t> left = file.value() ? recovery_left(opts, *file.value()) : std::nullopt;
    out(opts.json ? status_json(t.user, t.path, file.value(), left) : status_text(t.user, t.path, file.value(), left));
    return exit_done;
}

int run_new_recovery_codes(const CliOptions& opts, const Target& t) {
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message);
    }
    const SecretFileEditor& editor = session.value().editor;
    auto file = read_for_change(session.value(), t, "run totp-enroll first");
    if (!file) {
        return fail(file.error().message);
    }
    auto codes = pam_totp::replace_recovery_codes(file.value(), opts.recovery_codes);
    if (!codes) {
        return fail(codes.error().message + "; nothing was changed");
    }
    return write_and_show(editor, file.value(), codes.value(),
                          "New recovery codes for " + t.user + "; the old ones no longer work.\n");
}

namespace {

// --remove --name: one token out of several. The recovery codes' replay
// record hangs on the first token's key (secret_file.h, recovery_key):
// when that token goes, its key stays behind as the recovery anchor, so
// that a used recovery code stays used.
int remove_token(const CliOptions& opts, const Target& t, const std::string& name) {
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message);
    }
    auto file = read_for_change(session.value(), t, "there is nothing to remove");
    if (!file) {
        return fail(file.error().message);
    }
    SecretFile& f = file.value();
    const auto it = std::find_if(f.tokens.begin(), f.tokens.end(), [&](const TokenEntry& e) { return e.name == name; });
    if (it == f.tokens.end()) {
        return fail(no_such_token(t, f, name) + "; nothing was removed");
    }
    if (f.tokens.size() == 1) {
        return fail(name + " is the only token of " + t.user +
                    "; to remove the whole enrollment, run totp-enroll "
                    "--remove without --name");
    }
    if (!opts.force) {
        const std::string others = [&] {
            std::string names;
            for (const TokenEntry& e : f.tokens) {
                if (e.name != name) {
                    names += (names.empty() ? "" : ", ") + e.name;
                }
            }
            return names;
        }();
        if (!confirmed_by_yes("Remove token " + name + " from the enrollment of " + t.user + " (" + t.path +
                              ")?\nIts codes stop working; the other tokens (" + others + ") keep working.\n")) {
            return fail("not removed (the answer was not \"yes\")");
        }
    }
    if (it == f.tokens.begin() && !f.recovery_hashes.empty() && !f.recovery_anchor) {
        f.recovery_anchor = it->key.clone();
    }
    f.tokens.erase(it);
    return write_and_show(session.value().editor, f, {},
                          "Removed token " + name + " from " + t.path +
                              "; its codes no longer work. Tokens left: " + token_names(f) + ".\n");
}

}  // namespace

int run_remove(const CliOptions& opts, const Target& t) {
    if (opts.name) {
        return remove_token(opts, t, *opts.name);
    }
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message);
    }
    const SecretFileEditor& editor = session.value().editor;
    if (!editor.exists()) {
        return fail("nothing to remove: " + t.user + " is not enrolled (no " + t.path + ")");
    }
    if (!opts.force) {
        if (!confirmed_by_yes("Remove the enrollment of " + t.user + " (" + t.path + ")?\n" +
                              "Logins that need a code will fail for " + t.user + " until they enroll again.\n")) {
            return fail("not removed (the answer was not \"yes\")");
        }
    }
    const pam_totp::CriticalSection critical;
    if (pam_totp::Status st = editor.remove(); !st && st.error().code != pam_totp::Errc::not_durable) {
        return fail("could not remove: " + st.error().message);
    }
    out("Removed " + t.path + ".\n");
    return exit_done;
}

}  // namespace totp_enroll
