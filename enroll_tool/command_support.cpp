#include "command_support.h"

#include <unistd.h>

#include <array>

#include "commands.h"
#include "console.h"
#include "core/util/critical_section.h"
#include "report.h"

namespace totp_enroll {

using pam_totp::SecretFile;
using pam_totp::SecretFileEditor;
using pam_totp::SecureBuffer;

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

namespace {

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

}  // namespace

pam_totp::Result<Session> open_session(const Target& t, SecretFileEditor::Access access) {
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

pam_totp::Result<std::optional<SecretFile>> read_enrollment(const Target& t) {
    const auto session = open_session(t, SecretFileEditor::Access::read);
    if (!session) {
        if (session.error().code == pam_totp::Errc::not_found) {
            return std::optional<SecretFile>();  // no directory, so no file
        }
        return session.error();
    }
    auto read = session.value().editor.read();
    if (!read) {
        return pam_totp::make_error(read.error().code, read.error().message +
                                                           ". pam_totp refuses this file too: fix it, or enroll "
                                                           "anew with totp-enroll --force.");
    }
    return read;
}

pam_totp::Result<SecretFile> read_for_change(const Session& session, const Target& t, const std::string& what_next) {
    auto read = session.editor.read();
    if (!read) {
        return read.error();
    }
    if (!read.value()) {
        return pam_totp::make_error(pam_totp::Errc::not_found, not_enrolled(t, what_next));
    }
    return std::move(*read.value());
}

std::string already_enrolled(const Target& t) {
    return t.user + " is already enrolled (" + t.path +
           "). To replace that enrollment, run again with --force (the entry in the app stops working once the "
           "new code is confirmed); to add another token to it, use --add --name NAME; to see it, run "
           "totp-enroll --status.";
}

std::string not_enrolled(const Target& t, const std::string& what_next) {
    return t.user + " is not enrolled (no " + t.path + "); " + what_next;
}

std::string no_such_token(const Target& t, const SecretFile& file, const std::string& name) {
    return "no token named " + name + " in " + t.path + " (the tokens: " + token_names(file) +
           "); give one of those with --name";
}

std::optional<SecureBuffer> ask_code(std::string_view prompt) {
    out(prompt);
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

bool confirmed_by_yes(const std::string& question) {
    out(question + "Type yes to remove it: ");
    auto answer = read_answer();
    return answer && answer->view() == "yes";
}

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

}  // namespace totp_enroll
