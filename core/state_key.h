// Which state file records the logins of a secret file, and which secret
// files the module may read without looking the account up.
//
// A secret file only root controls (root_controlled_secret_rules) under a
// template that gives each name its own file (%u, and no ~ or %h:
// secret=/etc/pam_totp/%u) is that name's alone: one link, no symlinked
// directory, nothing a user can rename or link. Its state is keyed by the
// name (user-NAME) and the module reads it without an account lookup,
// which with files NSS scans /etc/passwd (0.5 ms at 10,000 users, more than
// the rest of a login). Every other secret file (in a home, owned by the
// user, linked twice, behind a symlink) is keyed by uid: names that share a
// uid (root and toor) can reach one such file, so they must share one
// replay record and one guessing budget. Only root can move a file from one
// kind to the other (chown, ln, mv); the first login under a name key
// carries the uid's state over (earlier pam_totp keyed every file by uid).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "safe_file.h"

namespace pam_totp {

// Whether template `templ` gives each name its own file: %u in it, and no
// ~ or %h.
bool template_names_own_file(std::string_view templ) noexcept;

// A secret file only root controls: a regular file owned by root, mode
// 0600 or stricter, one link, reached without symbolic links through
// directories that are all owned by root and not writable by anyone else
// (a root-owned sticky directory such as /tmp excepted).
FileRules root_controlled_secret_rules();

// "user-NAME": the state of a root-controlled file of a name's own.
std::string state_key_for_name(std::string_view name);

// "UID" in decimal: the state of every other secret file. The two kinds
// never collide: a uid key is all digits, a name key starts with "user-".
std::string state_key_for_uid(uid_t uid);

}  // namespace pam_totp
