// Which state file records the logins of a secret file, and which secret
// files the module may read without looking the account up.
//
// With a template that makes each name its own file (%u, and no ~ or %h:
// secret=/etc/pam_totp/%u), the state is keyed by the name the file is
// named after. Only root can make two such names share one file (a link in
// the root-owned directory that holds them; a world-writable sticky one
// such as /tmp is no place for secret files), so a name key cannot split
// one secret's replay record or guessing budget, and it needs no account
// lookup: with files NSS
// a lookup scans /etc/passwd (0.5 ms at 10,000 users, more than the rest of
// a login). With any other template the state is keyed by uid: names that
// share a uid (root and toor) share ~/.pam_totp, so they must share one
// replay record and one guessing budget.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "safe_file.h"

namespace pam_totp {

// Whether template `templ` makes each name its own file: %u in it, and no
// ~ or %h. Its states are keyed by name.
bool template_names_own_file(std::string_view templ) noexcept;

// A secret file only root controls: a regular file owned by root, mode
// 0600 or stricter, reached without symbolic links through directories
// that are all owned by root and not writable by anyone else (a root-owned
// sticky directory such as /tmp excepted). Nobody but root can have
// written or replaced it, or chosen where its path leads, so the module
// reads such a file of a name's own as root without looking the account up.
FileRules root_controlled_secret_rules();

// "user-NAME": the state of a template that names each user's own file.
std::string state_key_for_name(std::string_view name);

// "UID" in decimal: the state of every other template. The two kinds never
// collide: a uid key is all digits, a name key starts with "user-".
std::string state_key_for_uid(uid_t uid);

}  // namespace pam_totp
