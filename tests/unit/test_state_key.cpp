// State keys (by name, by uid), which templates name a file of the name's
// own, and the rules for a secret file only root controls, checked against
// real files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "cmocka.hpp"
#include "core/files/kv_format.h"
#include "core/files/safe_file.h"
#include "core/store/state_key.h"
#include "temp_tree.h"

namespace {

using pam_totp::Errc;

// A uid that is not root: "nobody".
constexpr uid_t other_uid = 65534;

bool all_digits(const std::string& s) {
    if (s.empty()) {
        return false;
    }
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

void keys_for_name_and_uid(void** /*state*/) {
    assert_string_equal(pam_totp::state_key_for_name("alice").c_str(), "user-alice");
    assert_string_equal(pam_totp::state_key_for_uid(1000).c_str(), "1000");
    assert_string_equal(pam_totp::state_key_for_uid(0).c_str(), "0");
    assert_string_equal(pam_totp::state_key_for_uid(other_uid).c_str(), "65534");
}

void name_and_uid_keys_never_collide(void** /*state*/) {
    // A name that looks like a uid still gets a name key, never all digits.
    const std::string by_name = pam_totp::state_key_for_name("1000");
    assert_string_equal(by_name.c_str(), "user-1000");
    assert_false(all_digits(by_name));
    assert_false(all_digits(pam_totp::state_key_for_name("0")));
    assert_false(all_digits(pam_totp::state_key_for_name("root")));
    for (const uid_t uid : {uid_t{0}, uid_t{1}, uid_t{1000}, other_uid, static_cast<uid_t>(-2)}) {
        const std::string key = pam_totp::state_key_for_uid(uid);
        if (!all_digits(key)) {
            fail_msg("uid key '%s' is not all digits", key.c_str());
        }
        assert_true(key != by_name);
    }
}

void templates_that_name_own_file(void** /*state*/) {
    assert_true(pam_totp::template_names_own_file("/etc/pam_totp/%u"));
    assert_true(pam_totp::template_names_own_file("/etc/pam_totp/%u/secret"));
    assert_true(pam_totp::template_names_own_file("/etc/%%h/%u"));  // "%%h" is a literal, not the home
    // From the home: the user controls it, not root.
    assert_false(pam_totp::template_names_own_file("~/%u"));
    assert_false(pam_totp::template_names_own_file("%h/%u"));
    assert_false(pam_totp::template_names_own_file("/etc/%u/%h"));
    // Not made from the name: a file several names share.
    assert_false(pam_totp::template_names_own_file("/etc/pam_totp/shared"));
    assert_false(pam_totp::template_names_own_file("/etc/pam_totp/%%u"));
}

void root_controlled_rules_fields(void** /*state*/) {
    const pam_totp::FileRules rules = pam_totp::root_controlled_secret_rules();
    assert_int_equal(rules.owner, 0);
    assert_true(rules.root_may_own);
    assert_int_equal(rules.max_size, pam_totp::max_file_size);
    assert_true(rules.root_owned_dirs);
    assert_false(rules.follow_dir_symlinks);
    assert_true(rules.single_link);
    assert_true(rules.case_sensitive_dir);
}

// The account's way adds the same guards to whatever owner rule it uses.
void name_keyed_rules_keep_the_base(void** /*state*/) {
    pam_totp::FileRules base{1000, true, 4096};
    base.root_owned_dirs = true;
    const pam_totp::FileRules rules = pam_totp::name_keyed_rules(base);
    assert_int_equal(rules.owner, 1000);
    assert_true(rules.root_may_own);
    assert_int_equal(rules.max_size, 4096);
    assert_true(rules.root_owned_dirs);
    assert_true(rules.single_link);
    assert_false(rules.follow_dir_symlinks);
    assert_true(rules.case_sensitive_dir);
    pam_totp::FileRules home{1000, false, 4096};
    assert_false(pam_totp::name_keyed_rules(home).root_owned_dirs);
    assert_false(pam_totp::name_keyed_rules(home).root_may_own);
}

// --- the rules against real files ----------------------------------------

using unittest::make_dir;
using unittest::temp_dir;
using unittest::temp_tree_setup;
using unittest::temp_tree_teardown;
using unittest::write_file;

// The root-controlled rules refuse `path` as unsafe, naming it, saying `why`.
void expect_refused(const std::string& path, const char* why) {
    unittest::expect_unsafe(path, pam_totp::root_controlled_secret_rules(), why);
}

void expect_accepted(const std::string& path, const char* content) {
    auto r = pam_totp::safe_read_file(path, pam_totp::root_controlled_secret_rules());
    if (!r.ok()) {
        fail_msg("'%s' refused: %s", path.c_str(), r.error().message.c_str());
    }
    assert_true(r.value().view() == content);
}

void accepts_root_owned_private_file(void** state) {
    if (::geteuid() != 0) {
        skip();  // the file must be root's
    }
    const std::string sub = temp_dir(state) + "/pam_totp";
    make_dir(sub, 0755);
    write_file(sub + "/alice", "secret-a");
    expect_accepted(sub + "/alice", "secret-a");
    write_file(sub + "/bob", "secret-b", 0400);  // stricter is fine
    expect_accepted(sub + "/bob", "secret-b");
}

void refuses_group_readable_file(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string path = temp_dir(state) + "/alice";
    write_file(path, "x", 0640);
    expect_refused(path, "group or others have access");
}

void refuses_second_link(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    // A state keyed by name needs a file only that name reaches: with a
    // second link (root's, or a user's where fs.protected_hardlinks is off)
    // the file goes the account's way and is keyed by uid.
    const std::string path = temp_dir(state) + "/alice";
    write_file(path, "shared");
    expect_accepted(path, "shared");
    const std::string other = temp_dir(state) + "/bob";
    assert_int_equal(::link(path.c_str(), other.c_str()), 0);
    expect_refused(path, "2 links");
    expect_refused(other, "2 links");
    assert_int_equal(::unlink(other.c_str()), 0);
    expect_accepted(path, "shared");
}

void refuses_symlinked_directory(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string real = temp_dir(state) + "/real";
    make_dir(real, 0755);
    write_file(real + "/alice", "x");
    const std::string link = temp_dir(state) + "/link";
    assert_int_equal(::symlink(real.c_str(), link.c_str()), 0);
    expect_refused(link + "/alice", "symbolic link");
    // The same file without the symlink is fine.
    expect_accepted(real + "/alice", "x");
}

void refuses_file_of_another_user(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string path = temp_dir(state) + "/alice";
    write_file(path, "x");
    assert_int_equal(::chown(path.c_str(), other_uid, other_uid), 0);
    expect_refused(path, "owned by uid 65534");
}

void refuses_directory_of_another_user(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string sub = temp_dir(state) + "/theirs";
    make_dir(sub, 0755);
    write_file(sub + "/alice", "x");  // root's own file, in their directory
    assert_int_equal(::chown(sub.c_str(), other_uid, other_uid), 0);
    expect_refused(sub + "/alice", "is owned by uid 65534, not by root");
}

void missing_file_is_not_found(void** state) {
    for (const std::string& path : {temp_dir(state) + "/absent", temp_dir(state) + "/nodir/absent"}) {
        auto r = pam_totp::safe_read_file(path, pam_totp::root_controlled_secret_rules());
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::not_found);
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_for_name_and_uid),
        cmocka_unit_test(name_and_uid_keys_never_collide),
        cmocka_unit_test(templates_that_name_own_file),
        cmocka_unit_test(root_controlled_rules_fields),
        cmocka_unit_test(name_keyed_rules_keep_the_base),
        cmocka_unit_test_setup_teardown(accepts_root_owned_private_file, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_group_readable_file, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_second_link, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_symlinked_directory, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_file_of_another_user, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_directory_of_another_user, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(missing_file_is_not_found, temp_tree_setup, temp_tree_teardown),
    };
    return cmocka_run_group_tests_name("state_key", tests, nullptr, nullptr);
}
