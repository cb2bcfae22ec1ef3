#include "core/store/state_key.h"

#include "core/files/kv_format.h"
#include "core/files/path_template.h"

namespace pam_totp {

bool template_names_own_file(std::string_view templ) noexcept {
    return template_uses_user(templ) && !template_uses_home(templ);
}

FileRules name_keyed_rules(FileRules base) {
    base.single_link = true;
    base.follow_dir_symlinks = false;
    base.case_sensitive_dir = true;
    return base;
}

FileRules root_controlled_secret_rules() {
    FileRules rules{0, true, max_file_size};
    rules.root_owned_dirs = true;
    return name_keyed_rules(rules);
}

std::string state_key_for_name(std::string_view name) {
    return "user-" + std::string(name);
}

std::string state_key_for_uid(uid_t uid) {
    return std::to_string(uid);
}

}  // namespace pam_totp
