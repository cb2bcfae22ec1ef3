#include "state_key.h"

#include "kv_format.h"
#include "path_template.h"

namespace pam_totp {

FileRules root_controlled_secret_rules() {
    FileRules rules{0, true, max_file_size};
    rules.root_owned_dirs = true;
    rules.follow_dir_symlinks = false;
    rules.single_link = true;
    return rules;
}

bool template_names_own_file(std::string_view templ) noexcept {
    return template_uses_user(templ) && !template_uses_home(templ);
}

std::string state_key_for_name(std::string_view name) {
    return "user-" + std::string(name);
}

std::string state_key_for_uid(uid_t uid) {
    return std::to_string(uid);
}

}  // namespace pam_totp
