#include "commands.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <string>

#include "console.h"
#include "core/files/fs_identity.h"
#include "core/files/kv_format.h"
#include "core/files/safe_file.h"
#include "core/otp/recovery.h"
#include "core/otp/token.h"
#include "core/store/open_store.h"
#include "core/util/critical_section.h"
#include "core/util/random.h"
#include "enroll_tool/enrollment.h"
#include "enroll_tool/ga_import.h"
#include "enroll_tool/otpauth_uri.h"
#include "enroll_tool/qr_text.h"
#include "report.h"

namespace totp_enroll {
namespace {

using pam_totp::SecretFile;
using pam_totp::SecretFileEditor;
using pam_totp::SecureBuffer;

constexpr int confirm_tries = 3;

int fail(const std::string& message) {
    err("totp-enroll: " + message + "\n");
    return exit_not_done;
}

std::string host_name() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') {
        return "localhost";
    }
    return buf.data();
}

// Root working on another user's home file does it with that user's
// file-system identity, so that the user's symlinks and hard links lead
// nowhere the user could not go (the module reads it the same way).
pam_totp::Result<std::optional<pam_totp::FsIdentity>> act_as_owner(const Target& t) {
    if (::geteuid() != 0 || t.uid == 0 || !t.home_file) {
        return std::optional<pam_totp::FsIdentity>();
    }
    auto identity = pam_totp::FsIdentity::assume(t.uid, t.gid);
    if (!identity) {
        return identity.error();
    }
    return std::optional<pam_totp::FsIdentity>(std::move(identity).value());
}

// The secret file's directory, checked (and locked, for editing), and the
// identity the work runs under (act_as_owner). The editor is declared
// last, so it is closed (and unlocked) before the identity is given back.
struct Session {
    std::optional<pam_totp::FsIdentity> identity;
    SecretFileEditor editor;
};

pam_totp::Result<Session> open_session(const Target& t,
                                       SecretFileEditor::Access access = SecretFileEditor::Access::edit) {
    auto identity = act_as_owner(t);
    if (!identity) {
        return identity.error();
    }
    auto editor = SecretFileEditor::open(t.path, t.uid, t.gid, !t.home_file, access);
    if (!editor) {
        if (editor.error().code == pam_totp::Errc::not_found) {
            return pam_totp::make_error(pam_totp::Errc::not_found,
                                        editor.error().message + "; create the directory first (mode 0700 or 0755)");
        }
        return editor.error();
    }
    return Session{std::move(identity).value(), std::move(editor).value()};
}

std::string already_enrolled(const Target& t) {
    return t.user + " is already enrolled (" + t.path +
           "). To replace that enrollment, run again with --force (the entry in the app stops working once the "
           "new code is confirmed); to see it, run totp-enroll --status.";
}

// Reads the code typed in answer to the prompt; spaces are dropped (apps
// show "123 456"). nullopt at end of input.
std::optional<SecureBuffer> ask_code() {
    out("Enter the code from your app: ");
    auto answer = read_answer();
    if (!answer) {
        return std::nullopt;
    }
    SecureBuffer code;
    for (const char c : answer->view()) {
        if (c != ' ') {
            code.append(&c, 1);
        }
    }
    return code;
}

// Writes the file with signals held, then shows the recovery codes: once
// the file is in place the codes must reach the screen.
//
// Everything shown afterwards is built before the write, so that nothing
// (not even an allocation) can fail between replacing the file and showing
// the codes of the enrollment now in place.
int write_and_show(const SecretFileEditor& editor, const SecretFile& file, const std::vector<SecureBuffer>& codes,
                   const std::string& done_message) {
    const pam_totp::CriticalSection critical;
    SecureBuffer shown(std::string_view{done_message});
    if (!codes.empty()) {
        shown.append(recovery_box(codes).view());
    }
    const pam_totp::Status st = editor.write(file);
    if (!st && st.error().code != pam_totp::Errc::not_durable) {
        return fail("could not write the secret file: " + st.error().message + ". Nothing was changed.");
    }
    out(shown.view());
    if (!st) {
        // A literal: nothing left to allocate, so this cannot fail either.
        err("totp-enroll: warning: the new secret file is in place, but the disk did not confirm it (the "
            "directory fsync failed); run sync, check the disk, and check the file with totp-enroll --status\n");
    }
    return exit_done;
}

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
    auto record = store.value()->peek_token(pam_totp::token_id_of(file.key));
    if (!record) {
        return unknown(record.error());
    }
    const pam_totp::TokenRecord none;
    return pam_totp::recovery_codes_left(record.value().value_or(none), file.recovery_hashes);
}

}  // namespace

namespace {

// The QR code, the URI and the secret in groups of four; false (said) when
// they cannot be shown.
bool show_intro(const CliOptions& opts, const Target& t, const SecretFile& file, const std::string& issuer,
                const std::string& account) {
    auto uri = pam_totp::make_otpauth_uri(issuer, account, file.key, opts.params);
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
    out(enrollment_intro(t.user, qr.value(), uri.value(), file.key, opts.params).view());
    return true;
}

// Asks for the code from the app, up to confirm_tries times. The end of the
// time step it matched, or an error to print (nothing is written then).
pam_totp::Result<std::time_t> confirm_code(const CliOptions& opts, const SecretFile& file, const std::string& account) {
    for (int attempt = 1; attempt <= confirm_tries; ++attempt) {
        auto code = ask_code();
        if (!code) {
            return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                        "no code entered (end of input); nothing was written. Run totp-enroll "
                                        "again when the app is ready.");
        }
        auto verdict = pam_totp::totp_verify(file.key, opts.params, code->view(), ::time(nullptr), 1, 0);
        if (!verdict) {
            return verdict.error();
        }
        if (verdict.value().outcome == pam_totp::TotpOutcome::accepted) {
            return pam_totp::step_end(verdict.value().step, opts.params.period);
        }
        if (attempt < confirm_tries) {
            out(wrong_code_hint(opts.params, confirm_tries - attempt));
        }
    }
    return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                std::to_string(confirm_tries) +
                                    " wrong codes; nothing was written. Check that the phone sets its clock "
                                    "automatically and that you scanned this QR code (the entry shows " +
                                    account + "), then run totp-enroll again.");
}

}  // namespace

int run_enroll(const CliOptions& opts, const Target& t) {
    const std::string host = host_name();
    const std::string issuer = opts.issuer.value_or(host);
    const std::string account = opts.label.value_or(t.user + "@" + host);
    for (const auto& [what, text] : {std::pair<const char*, const std::string&>{"--issuer", issuer},
                                     std::pair<const char*, const std::string&>{"--label", account}}) {
        if (pam_totp::Status st = pam_totp::validate_label_part(what, text); !st) {
            err("totp-enroll: " + st.error().message + "\n");
            return exit_usage;
        }
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
    auto file = pam_totp::new_enrollment(opts.params, ::time(nullptr));
    if (!file) {
        return fail(file.error().message);
    }
    if (!show_intro(opts, t, file.value(), issuer, account)) {
        return exit_not_done;
    }
    auto confirmed = confirm_code(opts, file.value(), account);
    if (!confirmed) {
        return fail(confirmed.error().message);
    }
    // The code just typed was seen on this screen: pam_totp refuses it (and
    // every code of an earlier step) for this enrollment.
    file.value().confirmed_until = confirmed.value();
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

int run_status(const CliOptions& opts, const Target& t) {
    std::optional<SecretFile> file;
    {
        const auto session = open_session(t, SecretFileEditor::Access::read);
        if (!session && session.error().code != pam_totp::Errc::not_found) {
            return fail(session.error().message);
        }
        if (session) {
            auto read = session.value().editor.read();
            if (!read) {
                return fail(read.error().message +
                            ". pam_totp refuses this file too: fix it, or enroll anew with "
                            "totp-enroll --force.");
            }
            file = std::move(read).value();
        }
    }
    // Used recovery codes are in the root-only state; without access, unknown.
    const std::optional<std::size_t> left = file ? recovery_left(opts, *file) : std::nullopt;
    out(opts.json ? status_json(t.user, t.path, file, left) : status_text(t.user, t.path, file, left));
    return exit_done;
}

int run_new_recovery_codes(const CliOptions& opts, const Target& t) {
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message);
    }
    const SecretFileEditor& editor = session.value().editor;
    auto read = editor.read();
    if (!read) {
        return fail(read.error().message);
    }
    if (!read.value()) {
        return fail(t.user + " is not enrolled (no " + t.path + "); run totp-enroll first");
    }
    SecretFile file = std::move(*read.value());
    auto codes = pam_totp::replace_recovery_codes(file, opts.recovery_codes);
    if (!codes) {
        return fail(codes.error().message + "; nothing was changed");
    }
    return write_and_show(editor, file, codes.value(),
                          "New recovery codes for " + t.user + "; the old ones no longer work.\n");
}

int run_remove(const CliOptions& opts, const Target& t) {
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message);
    }
    const SecretFileEditor& editor = session.value().editor;
    if (!editor.exists()) {
        return fail("nothing to remove: " + t.user + " is not enrolled (no " + t.path + ")");
    }
    if (!opts.force) {
        out("Remove the enrollment of " + t.user + " (" + t.path + ")?\n" + "Logins that need a code will fail for " +
            t.user + " until they enroll again.\n" + "Type yes to remove it: ");
        auto answer = read_answer();
        if (!answer || answer->view() != "yes") {
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

namespace {

// The google-authenticator file to import, read with its owner's
// file-system identity whatever the destination, so that root never
// follows a user's symlink to a file the user could not read (and copies
// it where the user can).
pam_totp::Result<SecureBuffer> read_import_source(const std::string& source, const Target& t) {
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

std::string absolute(const std::string& file) {
    if (!file.empty() && file.front() == '/') {
        return file;
    }
    std::array<char, 4096> cwd{};
    if (::getcwd(cwd.data(), cwd.size()) == nullptr) {
        return {};
    }
    return std::string(cwd.data()) + "/" + file;
}

}  // namespace

int run_import(const CliOptions& opts, const Target& t) {
    const std::string source = absolute(opts.import_file);
    if (source.empty()) {
        return fail("cannot find the current directory; give the file as an absolute path");
    }
    auto text = read_import_source(source, t);
    if (!text) {
        return fail("cannot import " + source + ": " + text.error().message);
    }
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message);
    }
    const SecretFileEditor& editor = session.value().editor;
    auto ga = pam_totp::parse_google_authenticator(text.value().view());
    if (!ga) {
        return fail("cannot import " + source + ": " + ga.error().message);
    }
    SecretFile file;
    file.key = std::move(ga.value().key);
    file.params.period = ga.value().period;
    file.window = ga.value().window;
    file.enrolled = ::time(nullptr);
    auto id = pam_totp::random_hex(16);
    if (!id) {
        return fail(id.error().message);
    }
    file.enrollment_id = std::move(id).value();
    if (pam_totp::Status st = pam_totp::add_recovery_hashes(file, ga.value().scratch_codes); !st) {
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
    return write_and_show(editor, file, {},
                          "Imported " + source + " for " + t.user + " into " + t.path +
                              ": the entry in the app keeps working; " + kept +
                              ".\nOnce pam_totp is in the PAM stack, remove pam_google_authenticator from it.\n");
}

}  // namespace totp_enroll
