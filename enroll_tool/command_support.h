// What the commands of totp-enroll (commands.cpp, token_commands.cpp,
// import_commands.cpp) share: messages, the locked session on the secret
// file, asking for codes, and writing a file whose news must reach the
// screen.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli_options.h"
#include "core/files/fs_identity.h"
#include "core/files/secret_file.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"
#include "enroll_tool/enrollment.h"
#include "target.h"

namespace totp_enroll {

// Prints "totp-enroll: MESSAGE" on standard error; returns exit_not_done.
int fail(const std::string& message);

std::string host_name();

// The secret file's directory, checked (and locked, for editing), and the
// identity the work runs under: root working on another user's home file
// does it with that user's file-system identity, so that the user's
// symlinks and hard links lead nowhere the user could not go (the module
// reads it the same way). The editor is declared last, so it is closed
// (and unlocked) before the identity is given back.
struct Session {
    std::optional<pam_totp::FsIdentity> identity;
    pam_totp::SecretFileEditor editor;
};

pam_totp::Result<Session> open_session(
    const Target& t, pam_totp::SecretFileEditor::Access access = pam_totp::SecretFileEditor::Access::edit);

// The enrollment as it is now, read without the lock (the file is only
// ever replaced whole); nullopt when there is none. Errors are said in
// full (what is wrong and what to do).
pam_totp::Result<std::optional<pam_totp::SecretFile>> read_enrollment(const Target& t);

// The enrollment under the session's lock, for a change: an error (said
// in full) when there is none.
pam_totp::Result<pam_totp::SecretFile> read_for_change(const Session& session, const Target& t,
                                                       const std::string& what_next);

std::string already_enrolled(const Target& t);
// "USER is not enrolled (no PATH); WHAT_NEXT".
std::string not_enrolled(const Target& t, const std::string& what_next);
// "no token named NAME in PATH (the tokens: a, b)".
std::string no_such_token(const Target& t, const pam_totp::SecretFile& file, const std::string& name);

// Shows `prompt` and reads the code typed; spaces are dropped (apps show
// "123 456"). nullopt at end of input.
std::optional<pam_totp::SecureBuffer> ask_code(std::string_view prompt);

// Asks for "yes" on standard input after `question`; true only for it.
bool confirmed_by_yes(const std::string& question);

// Writes the file with signals held, then shows `done_message` and the
// recovery codes: once the file is in place they must reach the screen.
// Everything shown is built before the write, so that nothing (not even an
// allocation) can fail between replacing the file and showing it.
int write_and_show(const pam_totp::SecretFileEditor& editor, const pam_totp::SecretFile& file,
                   const std::vector<pam_totp::SecureBuffer>& codes, const std::string& done_message);

// `file` made absolute against the current directory; empty when that
// cannot be found.
std::string absolute(const std::string& file);

}  // namespace totp_enroll
