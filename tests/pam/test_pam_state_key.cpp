// Which state file the module records a login in (core/state_key.h), through
// the real libpam: by name for secret=DIR/%u (a root-controlled file read
// without looking the account up), by uid for other templates; and the
// aliases that would split a name's state refused.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// Exactly one of STATE_DIR/user-NAME.state and STATE_DIR/UID.state exists.
void assert_keyed(const Fixture& f, const std::string& expected, const std::string& other) {
    if (!exists(f.state_dir() + "/" + expected + ".state")) {
        fail_msg("no state file %s.state", expected.c_str());
    }
    if (exists(f.state_dir() + "/" + other + ".state")) {
        fail_msg("state file %s.state exists too", other.c_str());
    }
}

void root_owned_central_secret_is_keyed_by_name(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 1);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_keyed(f, "user-root", "0");
    // The replay is refused through that state, and a recovery code is
    // recorded there too.
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {e.recovery_codes[0]}).rc, PAM_SUCCESS);
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "used"), 1);
    assert_keyed(f, "user-root", "0");
}

// A file the user owns (as totp-enroll --user writes it) is read the
// account's way, with a lookup, and keyed by name all the same.
void user_owned_secret_is_keyed_by_name(void** state) {
    Fixture& f = pamtest::get(state);
    const std::string name = "pamtotp-k" + std::to_string(::getpid());
    if (!f.add_user(name, "/nonexistent")) {
        fail_msg("useradd %s failed", name.c_str());
    }
    const passwd* pw = ::getpwnam(name.c_str());
    assert_non_null(pw);
    f.service("totp", "deny=100");
    const auto& mine = f.enroll(name, {}, 0, "", pw->pw_uid, pw->pw_gid);
    assert_int_equal(f.login("totp", name, {Fixture::code(mine)}).rc, PAM_SUCCESS);
    assert_keyed(f, "user-" + name, std::to_string(pw->pw_uid));
    // chown root: read without the lookup now, the same state.
    assert_int_equal(::chown(mine.path.c_str(), 0, 0), 0);
    assert_int_equal(f.login("totp", name, {Fixture::code(mine)}).rc, PAM_AUTH_ERR);
}

// What would let a second name reach a name's file, and replay its codes
// under a state of its own, is refused: a second link, a directory reached
// through a symlink (as "toor" or through another secret= spelling).
void aliases_of_a_name_file_are_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("plain", "deny=100");
    const auto& e = f.enroll("root", {}, 0);
    const std::string second = f.secrets_dir() + "/backup";
    assert_int_equal(::link(e.path.c_str(), second.c_str()), 0);
    auto r = f.login("plain", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(r.prompts.size(), 1);  // asked anyway
    assert_int_equal(::unlink(second.c_str()), 0);

    const std::string link = f.root() + "/secrets-link";
    assert_int_equal(::symlink(f.secrets_dir().c_str(), link.c_str()), 0);
    f.service_text("linked", "auth required " + Fixture::module_path() + " secret=" + link +
                                 "/%u state_dir=" + f.state_dir() + " deny=100\n");
    assert_int_equal(f.login("linked", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    assert_false(exists(f.state_dir() + "/user-root.state"));
    assert_false(exists(f.state_dir() + "/0.state"));
    // The file itself is fine: through the plain path it works.
    assert_int_equal(f.login("plain", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_keyed(f, "user-root", "0");
}

// A file whose state an earlier pam_totp kept by uid (here: the same file
// through a template without %u) carries it over to the name key at its
// first login there: used codes and recovery codes stay used.
void uid_state_is_carried_over_to_the_name_key(void** state) {
    Fixture& f = pamtest::get(state);
    const auto& e = f.enroll("root", {}, 2);
    f.service_text("by-uid", "auth required " + Fixture::module_path() + " secret=" + e.path +
                                 " state_dir=" + f.state_dir() + " deny=100\n");
    assert_int_equal(f.login("by-uid", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_int_equal(f.login("by-uid", "root", {e.recovery_codes[0]}).rc, PAM_SUCCESS);
    assert_keyed(f, "0", "user-root");

    f.service("by-name", "deny=100");
    assert_int_equal(f.login("by-name", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("by-name", "root", {e.recovery_codes[0]}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("by-name", "root", {e.recovery_codes[1]}).rc, PAM_SUCCESS);
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "used"), 2);
}

// A file in the home named by %u would be keyed by name here and by uid
// through ~/.pam_totp: refused (denied, asked anyway).
void home_file_named_by_user_is_refused(void** state) {
    Fixture& f = pamtest::get(state);
    const std::string name = "pamtotp-h" + std::to_string(::getpid());
    assert_int_equal(::chmod(f.root().c_str(), 0755), 0);
    const std::string homes = f.root() + "/home";
    assert_int_equal(::mkdir(homes.c_str(), 0755), 0);
    const std::string home = homes + "/" + name;
    if (!f.add_user(name, home)) {
        fail_msg("useradd %s failed", name.c_str());
    }
    const passwd* pw = ::getpwnam(name.c_str());
    assert_non_null(pw);
    assert_int_equal(::mkdir(home.c_str(), 0700), 0);
    assert_int_equal(::chown(home.c_str(), pw->pw_uid, pw->pw_gid), 0);
    const auto& e = f.enroll(name, {}, 0, home + "/.pam_totp", pw->pw_uid, pw->pw_gid);
    f.service_text("by-name", "auth required " + Fixture::module_path() + " secret=" + homes +
                                  "/%u/.pam_totp state_dir=" + f.state_dir() + " deny=100\n");
    const auto r = f.login("by-name", name, {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(r.prompts.size(), 1);
    f.service("by-uid", "deny=100", false);  // ~/.pam_totp: the same file, fine
    assert_int_equal(f.login("by-uid", name, {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_keyed(f, std::to_string(pw->pw_uid), "user-" + name);
}

// A template without %u is one file for all names (and ~/.pam_totp is one
// file for every name of a uid): keyed by uid.
void template_without_user_is_keyed_by_uid(void** state) {
    Fixture& f = pamtest::get(state);
    const auto& e = f.enroll("root", {}, 0, f.secrets_dir() + "/shared");
    f.service_text("shared", "auth required " + Fixture::module_path() + " secret=" + e.path +
                                 " state_dir=" + f.state_dir() + " deny=100\n");
    assert_int_equal(f.login("shared", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_keyed(f, "0", "user-root");
}

// The root-controlled file is read without an account lookup, so a name
// the account database does not know is checked against its file like any
// other: whether the account exists is for the account stack (pam_unix)
// to decide, as sshd and login already do before any code is asked.
void root_controlled_secret_needs_no_account(void** state) {
    Fixture& f = pamtest::get(state);
    const std::string name = "pamtotp-none" + std::to_string(::getpid());
    assert_null(::getpwnam(name.c_str()));
    f.service("totp", "deny=100");
    const auto& e = f.enroll(name, {}, 0);
    assert_int_equal(f.login("totp", name, {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", name, {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_keyed(f, "user-" + name, "0");
    // Without a file, the unknown name is denied as before (and still asked).
    const auto r = f.login("totp", name + "x", {"123456"});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(r.prompts.size(), 1);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(root_owned_central_secret_is_keyed_by_name, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(user_owned_secret_is_keyed_by_name, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(aliases_of_a_name_file_are_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(uid_state_is_carried_over_to_the_name_key, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(home_file_named_by_user_is_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(template_without_user_is_keyed_by_uid, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(root_controlled_secret_needs_no_account, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests_name("pam_state_key", tests, nullptr, nullptr);
}
