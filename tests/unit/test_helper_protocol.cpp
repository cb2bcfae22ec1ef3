// The module's conversation with pam_totp_check (core/login/
// helper_protocol.h) and the options the helper accepts from a caller that
// is not root (helper_policy.h): framing, the strict request, and which
// options are the administrator's.
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/login/helper_policy.h"
#include "core/login/helper_protocol.h"

// After the project's headers: cmocka's fail() macro would break <ios>.
#include "cmocka.hpp"

namespace {

namespace helper = pam_totp::helper;
using pam_totp::Errc;

helper::Request sample() {
    helper::Request r;
    r.user = "alice";
    r.service = "vlock";
    r.tty = "/dev/tty3";
    r.args = {"deny=3", "[prompt=Code please: ]", "secret=/etc/pam_totp/%u"};
    r.authtok = pam_totp::SecureBuffer(std::string_view("pass\nword"));
    return r;
}

void request_round_trip(void** /*state*/) {
    const pam_totp::SecureBuffer bytes = helper::encode_request(sample());
    auto r = helper::decode_request(bytes.view());
    assert_true(r.ok());
    assert_string_equal(r.value().user.c_str(), "alice");
    assert_string_equal(r.value().service.c_str(), "vlock");
    assert_string_equal(r.value().tty.c_str(), "/dev/tty3");
    assert_true(r.value().rhost.empty());
    assert_int_equal(r.value().args.size(), 3);
    assert_string_equal(r.value().args[1].c_str(), "[prompt=Code please: ]");
    assert_true(r.value().authtok && r.value().authtok->view() == "pass\nword");
    assert_false(r.value().deferred.has_value());
    // A NUL in the authtok is refused (libpam's items are C strings).
    helper::Request with_nul = sample();
    with_nul.authtok = pam_totp::SecureBuffer(std::string_view("a\0b", 3));
    assert_false(helper::decode_request(helper::encode_request(with_nul).view()).ok());
}

void authtok_with_newline_cannot_forge_a_message(void** /*state*/) {
    helper::Request req = sample();
    // A password holding what looks like a message: lengths, not lines, frame it.
    req.authtok = pam_totp::SecureBuffer(std::string_view("x\nend 0\n\nuser 3\nbob\n"));
    const pam_totp::SecureBuffer bytes = helper::encode_request(req);
    auto r = helper::decode_request(bytes.view());
    assert_true(r.ok());
    assert_string_equal(r.value().user.c_str(), "alice");
    assert_true(r.value().authtok->view() == "x\nend 0\n\nuser 3\nbob\n");
}

void malformed_requests_are_refused(void** /*state*/) {
    const std::vector<std::string> bad = {
        "",                                                   // nothing
        "user 5\nalice\nend 0\n\n",                           // no hello
        "hello 1\n2\nuser 5\nalice\nend 0\n\n",               // another version
        "hello 1\n1\nend 0\n\n",                              // no user
        "hello 1\n1\nuser 0\n\nend 0\n\n",                    // empty user
        "hello 1\n1\nuser 5\nalice\nuser 3\nbob\nend 0\n\n",  // user twice
        "hello 1\n1\nuser 5\nalice\nanswer 1\n1\nend 0\n\n",  // not a request message
        "hello 1\n1\nuser 5\nalice\nend 0\n\nuser 1\nx\n",    // after the end
        "hello 1\n1\nuser 05\nalice\nend 0\n\n",              // leading zero
        "hello 1\n1\nuser 5\nalicex\nend 0\n\n",              // length mismatch
        "hello 1\n1\nuser 99999\n",                           // longer than max_value
        "hello 1\n1\nuser 5\nal\tce\nend 0\n\n",              // not printable
        "hello 1\n1\nservice 3\na\nb\nuser 1\nx\nend 0\n\n",  // newline in a text field
        "hello 1\n1\nUSER 1\nx\nend 0\n\n",                   // unknown name
        "hello 1\n1\nuser 1\nx\narg 0\n\nend 0\n\n",          // empty argument
        "hello 1\n1\nuser 1\nx\nend 0\n",                     // cut short
    };
    for (const std::string& b : bad) {
        auto r = helper::decode_request(b);
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::format);
    }
    // A service that would read as more of the helper's log line.
    helper::Request forged = sample();
    forged.service = "x, as uid 0) user root: wrong code";
    assert_false(helper::decode_request(helper::encode_request(forged).view()).ok());
    // What the module sends instead.
    forged.service = helper::request_item(forged.service);
    assert_string_equal(forged.service.c_str(), "x__as_uid_0__user_root:_wrong_code");
    assert_true(helper::decode_request(helper::encode_request(forged).view()).ok());
    assert_int_equal(helper::request_item(std::string(100, 'a')).size(), 64);
    forged.rhost = "fe80::1%eth0";
    forged.tty = ":0";
    assert_true(helper::decode_request(helper::encode_request(forged).view()).ok());
    // A NUL inside a user name.
    const std::string nul("hello 1\n1\nuser 3\na\0b\nend 0\n\n", 27);
    assert_false(helper::decode_request(nul).ok());
}

void too_many_arguments_are_refused(void** /*state*/) {
    helper::Request req = sample();
    req.args.assign(helper::max_args, "debug");
    assert_true(helper::decode_request(helper::encode_request(req).view()).ok());
    req.args.push_back("debug");
    assert_false(helper::decode_request(helper::encode_request(req).view()).ok());
}

void partial_input_waits_for_more(void** /*state*/) {
    const std::string whole = "answer 6\n123456\n";
    for (std::size_t n = 0; n < whole.size(); ++n) {
        std::size_t used = 99;
        auto m = helper::parse_message(std::string_view(whole).substr(0, n), used);
        assert_true(m.ok());
        assert_false(m.value().has_value());
        assert_int_equal(used, 0);
    }
    std::size_t used = 0;
    auto m = helper::parse_message(whole + "info 0\n\n", used);
    assert_true(m.ok() && m.value().has_value());
    assert_int_equal(used, whole.size());
    assert_true(m.value()->kind == helper::Kind::answer);
    assert_true(m.value()->value.view() == "123456");
}

void reader_over_a_socket(void** /*state*/) {
    int sv[2];
    assert_int_equal(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_true(helper::send_message(sv[0], helper::Kind::ask_noecho, "Verification code: ").ok());
    assert_true(helper::send_message(sv[0], helper::Kind::info, "").ok());
    ::close(sv[0]);
    helper::MessageReader reader(sv[1]);
    auto a = reader.next();
    assert_true(a.ok() && a.value().has_value());
    assert_true(a.value()->kind == helper::Kind::ask_noecho);
    assert_true(a.value()->value.view() == "Verification code: ");
    auto b = reader.next();
    assert_true(b.ok() && b.value().has_value() && b.value()->value.empty());
    auto eof = reader.next();
    assert_true(eof.ok() && !eof.value().has_value());
    ::close(sv[1]);
}

void reader_deadline(void** /*state*/) {
    int sv[2];
    assert_int_equal(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(::write(sv[0], "hello 1\n", 8), 8);  // a message begun, never finished
    helper::MessageReader reader(sv[1]);
    auto r = helper::read_request(reader, std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
    assert_false(r.ok());
    assert_int_equal(r.error().code, Errc::unavailable);
    ::close(sv[0]);
    ::close(sv[1]);
}

pam_totp::ModuleOptions options(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    for (const std::string& a : args) {
        argv.push_back(a.c_str());
    }
    auto o = pam_totp::parse_module_options(static_cast<int>(argv.size()), argv.data());
    assert_true(o.ok());
    return o.value();
}

void policy_without_helper_conf_is_the_defaults(void** /*state*/) {
    auto allowed = pam_totp::allowed_policies(std::nullopt);
    assert_true(allowed.ok());
    // What the caller sees or gets back is its own business ...
    assert_true(pam_totp::check_policy(options({"nullok", "debug", "echo_code", "prompt=Code: ", "try_first_pass",
                                                "helper=/usr/local/sbin/pam_totp_check"}),
                                       allowed.value())
                    .ok());
    // ... where the state and secret are, and what a right answer is, not.
    for (const char* opt : {"deny=100", "window=10", "state_dir=/tmp/mine", "secret=/home/mallory/fake",
                            "store=postgresql", "store_config=/home/mallory/store.conf", "unlock_time=1",
                            "fail_interval=1", "max_unlock_time=600", "no_recovery", "window=1"}) {
        const auto st = pam_totp::check_policy(options({opt}), allowed.value());
        assert_false(st.ok());
        assert_int_equal(st.error().code, Errc::permission);
        assert_non_null(std::strstr(st.error().message.c_str(), "/etc/pam_totp/helper.conf"));
    }
}

void policy_from_helper_conf(void** /*state*/) {
    const std::string conf =
        "# the PAM lines of the lockers\n"
        "\n"
        "  deny=3 window=2 [prompt=Your code: ]\n"
        "secret=/etc/pam_totp/%u nullok\n";
    auto allowed = pam_totp::allowed_policies(std::string_view(conf));
    assert_true(allowed.ok());
    assert_int_equal(allowed.value().size(), 2);
    assert_true(pam_totp::check_policy(options({"window=2", "deny=3"}), allowed.value()).ok());
    assert_true(pam_totp::check_policy(options({"secret=/etc/pam_totp/%u"}), allowed.value()).ok());
    // Listed lines only: the defaults are no longer allowed, nor a mix.
    assert_false(pam_totp::check_policy(options({}), allowed.value()).ok());
    assert_false(pam_totp::check_policy(options({"deny=3"}), allowed.value()).ok());
    assert_false(
        pam_totp::check_policy(options({"deny=3", "window=2", "secret=/etc/pam_totp/%u"}), allowed.value()).ok());
    // A line that is not valid options is an error naming the line.
    auto broken = pam_totp::allowed_policies(std::string_view("deny=3\nbogus_option\n"));
    assert_false(broken.ok());
    assert_non_null(std::strstr(broken.error().message.c_str(), "line 2"));
    assert_false(pam_totp::allowed_policies(std::string_view("[prompt=unclosed\n")).ok());
    // Every line keeps the state in one place: else a caller would pick a
    // line for a second budget.
    auto split_state = pam_totp::allowed_policies(std::string_view("deny=3\nstate_dir=/var/lib/other deny=3\n"));
    assert_false(split_state.ok());
    assert_non_null(std::strstr(split_state.error().message.c_str(), "same place"));
    assert_false(pam_totp::allowed_policies(std::string_view("nullok\nstore=postgresql\n")).ok());
}

void split_like_libpam(void** /*state*/) {
    auto a = pam_totp::split_module_arguments(" a=1\t[prompt=Two words: ] b  c ");
    assert_true(a.ok());
    assert_true(a.value() == (std::vector<std::string>{"a=1", "prompt=Two words: ", "b", "c"}));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_round_trip),
        cmocka_unit_test(authtok_with_newline_cannot_forge_a_message),
        cmocka_unit_test(malformed_requests_are_refused),
        cmocka_unit_test(too_many_arguments_are_refused),
        cmocka_unit_test(partial_input_waits_for_more),
        cmocka_unit_test(reader_over_a_socket),
        cmocka_unit_test(reader_deadline),
        cmocka_unit_test(policy_without_helper_conf_is_the_defaults),
        cmocka_unit_test(policy_from_helper_conf),
        cmocka_unit_test(split_like_libpam),
    };
    return cmocka_run_group_tests_name("helper_protocol", tests, nullptr, nullptr);
}
