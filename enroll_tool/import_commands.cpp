// --import-google-authenticator and --import-pam-oath: an existing secret
// keeps working, so no code confirms it.
#include <unistd.h>

#include <ctime>
#include <string>

#include "command_support.h"
#include "commands.h"
#include "console.h"
#include "core/files/kv_format.h"
#include "core/files/safe_file.h"
#include "core/otp/totp.h"
#include "enroll_tool/enrollment.h"
#include "enroll_tool/ga_import.h"
#include "enroll_tool/pam_oath_import.h"
#include "report.h"

namespace totp_enroll {

using pam_totp::SecureBuffer;
using pam_totp::TokenEntry;
using pam_totp::TokenType;

namespace {

// The google-authenticator file to import, read with its owner's
// file-system identity whatever the destination, so that root never
// follows a user's symlink to a file the user could not read (and copies
// it where the user can).
pam_totp::Result<SecureBuffer> read_ga_source(const std::string& source, const Target& t) {
    std::optional<pam_totp::FsIdentity> identity;
    if (::geteuid() == 0 && t.uid != 0) {
        auto assumed = pam_totp::FsIdentity::assume(t.uid, t.gid);
        if (!assumed) {
            return assumed.error();
        }
        identity.emplace(std::move(assumed).value());
    }
    // google-authenticator writes its file 0400 or 0600, owned by the user.
    auto text = pam_totp::safe_read_file(
        source, pam_totp::FileRules{.owner = t.uid, .root_may_own = t.uid == 0, .max_size = pam_totp::max_file_size});
    if (identity) {
        if (pam_totp::Status back = identity->restore(); !back) {
            return back.error();
        }
    }
    return text;
}

// pam_oath's usersfile: root's (mode 0600, as pam_oath's documentation
// has it) in directories only root may write, read as root; a user may
// import a copy of their own lines from a file of their own.
pam_totp::Result<SecureBuffer> read_usersfile(const std::string& source) {
    const bool root = ::geteuid() == 0;
    return pam_totp::safe_read_file(source, pam_totp::FileRules{.owner = root ? 0 : ::getuid(),
                                                                .root_may_own = true,
                                                                .max_size = pam_totp::max_usersfile_size,
                                                                .root_owned_dirs = root});
}

// The end of the latest time step near `now` whose code is `last`, the
// code pam_oath accepted last: pam_totp must not accept it again (nor one
// of an earlier step). Searched as far as a window and a clock offset
// could ever reach; 0 when it is not there (then it is too old to matter).
std::time_t last_code_until(const TokenEntry& token, std::string_view last, std::time_t now) {
    const auto period = static_cast<std::time_t>(token.params.period);
    const std::time_t reach =
        (static_cast<std::time_t>(pam_totp::max_window) + 1) * period + pam_totp::max_clock_offset;
    std::time_t until = 0;
    for (std::time_t at = now - reach; at <= now + reach; at += period) {
        auto code = pam_totp::totp_generate(token.key, token.params, at);
        if (code && pam_totp::constant_time_equal(code.value().view(), last)) {
            until = pam_totp::step_end(pam_totp::time_step(at, token.params.period), token.params.period);
        }
    }
    return until;
}

std::string pluralise(std::size_t n, const std::string& one, const std::string& many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

int run_import(const CliOptions& opts, const Target& t) {
    const std::string source = absolute(opts.import_file);
    if (source.empty()) {
        return fail("cannot find the current directory; give the file as an absolute path");
    }
    auto text = read_ga_source(source, t);
    if (!text) {
        return fail("cannot import " + source + ": " + text.error().message);
    }
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message);
    }
    const pam_totp::SecretFileEditor& editor = session.value().editor;
    auto ga = pam_totp::parse_google_authenticator(text.value().view());
    if (!ga) {
        return fail("cannot import " + source + ": " + ga.error().message);
    }
    const std::time_t now = ::time(nullptr);
    TokenEntry token;
    token.name = opts.name.value_or(std::string(pam_totp::default_token_name));
    token.key = std::move(ga.value().key);
    if (ga.value().hotp_counter) {
        token.type = TokenType::hotp;
        token.counter = *ga.value().hotp_counter;
    } else {
        token.params.period = ga.value().period;
    }
    token.added = now;
    std::vector<TokenEntry> tokens;
    tokens.push_back(std::move(token));
    auto file = pam_totp::enrollment_of(std::move(tokens), now);
    if (!file) {
        return fail(file.error().message);
    }
    file.value().window = ga.value().window;
    if (pam_totp::Status st = pam_totp::add_recovery_hashes(file.value(), ga.value().scratch_codes); !st) {
        return fail(st.error().message + "; nothing was written");
    }
    if (editor.exists() && !opts.force) {
        return fail(already_enrolled(t));
    }
    for (const auto& note : ga.value().notes) {
        out("Note: " + note + ".\n");
    }
    const std::size_t n = ga.value().scratch_codes.size();
    const std::string kept =
        n == 1 ? "1 scratch code is now a recovery code" : std::to_string(n) + " scratch codes are now recovery codes";
    const std::string kind = ga.value().hotp_counter
                                 ? " (counter-based, next counter " + std::to_string(*ga.value().hotp_counter) + ")"
                                 : std::string();
    return write_and_show(editor, file.value(), {},
                          "Imported " + source + kind + " for " + t.user + " into " + t.path +
                              ": the entry in the app keeps working; " + kept +
                              ".\nOnce pam_totp is in the PAM stack, remove pam_google_authenticator from it.\n");
}

int run_import_pam_oath(const CliOptions& opts, const Target& t) {
    const std::string source = absolute(opts.import_file);
    if (source.empty()) {
        return fail("cannot find the current directory; give the usersfile as an absolute path");
    }
    auto text = read_usersfile(source);
    if (!text) {
        return fail("cannot import " + source + ": " + text.error().message);
    }
    auto parsed = pam_totp::parse_pam_oath_usersfile(text.value().view(), t.user);
    text.value().clear();  // every user's secrets: gone before anything else happens
    if (!parsed) {
        return fail("cannot import " + source + ": " + parsed.error().message + "; nothing was written");
    }
    std::vector<pam_totp::PamOathToken>& lines = parsed.value().tokens;
    if (opts.name && lines.size() > 1) {
        return fail("--name names one token, but " + source + " has " + std::to_string(lines.size()) + " lines for " +
                    t.user + "; drop --name to import them as oath-1 to oath-" + std::to_string(lines.size()));
    }
    const std::time_t now = ::time(nullptr);
    std::vector<TokenEntry> tokens;
    std::string listing;
    std::vector<std::string> notes;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        pam_totp::PamOathToken& line = lines[i];
        TokenEntry token;
        token.name = opts.name.value_or("oath-" + std::to_string(i + 1));
        token.type = line.type;
        token.key = std::move(line.key);
        token.params.digits = line.digits;
        token.added = now;
        std::string what;
        if (line.type == TokenType::hotp) {
            token.counter = line.counter;
            what = "counter-based, " + std::to_string(line.digits) + " digits, next counter " +
                   std::to_string(line.counter);
        } else {
            token.params.period = line.period;
            if (line.last_otp) {
                token.confirmed_until = last_code_until(token, line.last_otp->view(), now);
            }
            what = "time-based, " + std::to_string(line.digits) + " digits, " + std::to_string(line.period) +
                   "-second period";
        }
        if (line.pin_elsewhere) {
            notes.push_back("line " + std::to_string(line.line_no) +
                            " has the PIN + (its password is checked by another module); pam_totp checks only "
                            "the code, so keep that module in the PAM stack");
        }
        listing += "  " + token.name + ": " + what + " (line " + std::to_string(line.line_no) + ")\n";
        tokens.push_back(std::move(token));
    }
    auto file = pam_totp::enrollment_of(std::move(tokens), now);
    if (!file) {
        return fail(file.error().message);
    }
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message + "; nothing was written");
    }
    const pam_totp::SecretFileEditor& editor = session.value().editor;
    if (editor.exists() && !opts.force) {
        return fail(already_enrolled(t));
    }
    for (const auto& note : notes) {
        out("Note: " + note + ".\n");
    }
    return write_and_show(
        editor, file.value(), {},
        "Imported " + pluralise(lines.size(), "token", "tokens") + " of " + t.user + " from " + source + " into " +
            t.path + ":\n" + listing +
            "They keep working as they are. Once pam_totp is in the PAM stack, remove pam_oath from it and the "
            "lines of " +
            t.user + " from " + source +
            ".\nThere are no recovery codes yet: make some with totp-enroll "
            "--new-recovery-codes.\n");
}

}  // namespace totp_enroll
