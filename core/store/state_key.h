// Which state file records the logins of a secret file, and which secret
// files the module may read without looking the account up.
//
// A secret= template that gives each name its own file (%u in it, and no ~
// or %h: secret=/etc/pam_totp/%u) keys the state by that name (user-NAME);
// every other template (the default ~/.pam_totp) keys it by uid, since
// names that share a uid (root and toor) reach the same ~/.pam_totp and so
// must share one replay record and one guessing budget.
//
// The key follows from the template alone, never from how or by which way
// a file was read, so one file always has one state. What keeps a name-keyed
// file the name's own is checked at every read (name_keyed_rules): one link,
// no symlinked directory on its path, a directory that tells names apart by
// case. A file that fails any of these is refused (the login is denied):
// otherwise a second name could reach it and replay its codes under a state
// of its own.
//
// A name-keyed file that only root controls is read without an account
// lookup, which with files NSS scans /etc/passwd (0.5 ms at 10,000 users,
// more than the rest of a login).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/files/safe_file.h"

namespace pam_totp {

// Whether template `templ` gives each name its own file: %u in it, and no
// ~ or %h. Its states are keyed by name.
bool template_names_own_file(std::string_view templ) noexcept;

// `base` with what a name-keyed file needs on top: one link, no symlinked
// directory, a directory that tells names apart by case.
FileRules name_keyed_rules(FileRules base);

// A name-keyed file only root controls: owned by root, mode 0600 or
// stricter, in directories that are all owned by root and not writable by
// anyone else (a root-owned sticky directory such as /tmp excepted), and
// name_keyed_rules. Nobody but root can have written, replaced or linked it,
// so the module reads it as root without looking the account up.
FileRules root_controlled_secret_rules();

// "user-NAME": the state of a template that gives each name its own file.
std::string state_key_for_name(std::string_view name);

// "UID" in decimal: the state of every other template. The two kinds never
// collide: a uid key is all digits, a name key starts with "user-".
std::string state_key_for_uid(uid_t uid);

}  // namespace pam_totp
