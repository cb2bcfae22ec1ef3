// SecureBuffer and constant_time_equal.
#include <cstring>
#include <utility>

#include "cmocka.hpp"
#include "core/util/secure_buffer.h"

namespace {

using pam_totp::SecureBuffer;

void holds_and_appends(void** /*state*/) {
    SecureBuffer b("abc");
    assert_int_equal(b.size(), 3);
    b.append("defghijklmnop");
    assert_int_equal(b.size(), 16);
    assert_memory_equal(b.data(), "abcdefghijklmnop", 16);
    assert_true(b.view() == "abcdefghijklmnop");
}

void truncate_wipes_the_tail(void** /*state*/) {
    SecureBuffer b("123456");
    const std::uint8_t* raw = b.data();
    b.truncate(2);
    assert_int_equal(b.size(), 2);
    // The bytes past the new size are zero at once, not at destruction.
    assert_int_equal(raw[2], 0);
    assert_int_equal(raw[5], 0);
}

void move_leaves_source_empty(void** /*state*/) {
    SecureBuffer a("secret");
    SecureBuffer b(std::move(a));
    assert_true(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    assert_null(a.data());
    assert_true(b.view() == "secret");
    SecureBuffer c;
    c = std::move(b);
    assert_true(c.view() == "secret");
    const SecureBuffer d = c.clone();
    assert_true(d.view() == "secret");
    assert_ptr_not_equal(d.data(), c.data());
}

void sized_buffer_is_zeroed(void** /*state*/) {
    const SecureBuffer b(32);
    for (std::size_t i = 0; i < b.size(); ++i) {
        assert_int_equal(b.data()[i], 0);
    }
}

void constant_time_equal_works(void** /*state*/) {
    assert_true(pam_totp::constant_time_equal("123456", "123456"));
    assert_false(pam_totp::constant_time_equal("123456", "123457"));
    assert_false(pam_totp::constant_time_equal("123456", "12345"));
    assert_true(pam_totp::constant_time_equal("", ""));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(holds_and_appends),         cmocka_unit_test(truncate_wipes_the_tail),
        cmocka_unit_test(move_leaves_source_empty),  cmocka_unit_test(sized_buffer_is_zeroed),
        cmocka_unit_test(constant_time_equal_works),
    };
    return cmocka_run_group_tests_name("secure_buffer", tests, nullptr, nullptr);
}
