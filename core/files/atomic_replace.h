// Durable atomic replacement of a whole file (Linux-PAM pam_unix's
// passverify.c, plus the directory fsync none of the anchors does): what
// totp-enroll uses to write a secret file. The module never rewrites a
// file; its state is updated in place (core/store/slot_file.h).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/util/result.h"

namespace pam_totp {

struct ReplaceOptions {
    mode_t mode = 0600;
    uid_t uid = static_cast<uid_t>(-1);  // -1: leave as created
    gid_t gid = static_cast<gid_t>(-1);
};

// Replaces `name` in the directory `dir_fd` (which may be an O_PATH
// descriptor) with `content`: a temp file beside it (".NAME.XXXXXXXXXXXX",
// O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), write all, fchown/fchmod per
// `options`, fsync, rename over `name`, fsync the directory. On any error
// the old file is untouched and the temp file removed; the error says which
// step failed (a full disk is ENOSPC at write or fsync). Errc::not_durable
// when only the final directory fsync failed: the new content is then in
// place but may not survive a crash. `path` names the file in messages.
Status atomic_replace_at(int dir_fd, const std::string& name, const std::string& path, std::string_view content,
                         const ReplaceOptions& options);

// The same for an absolute `path`, its directory opened by name.
Status atomic_replace(const std::string& path, std::string_view content, const ReplaceOptions& options);

}  // namespace pam_totp
