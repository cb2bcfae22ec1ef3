// libFuzzer target: parse_pam_oath_usersfile (enroll_tool/pam_oath_import.h),
// and decode_secret_text (enroll_tool/secret_text.h) on the same input.
// Properties: errors are Errc::format or (no line for the user)
// Errc::not_found, with a message that starts "usersfile" and, for the
// user alice, never holds what looks like a secret; an accepted file gives
// exactly one token per line naming the user (in file order, line numbers
// pointing at such lines), at most max_tokens_per_file of them, each with a
// key of 80..1024 bits unlike the others, 6 or 8 digits, a period of 30 or
// 60 s for a TOTP token, an HOTP counter within max_start_counter, a last
// code of the token's digits; and parsing again gives the same. A secret
// decode_secret_text accepts is 80..1024 bits and decodes the same again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/files/secret_file.h"
#include "enroll_tool/enrollment.h"
#include "enroll_tool/pam_oath_import.h"
#include "enroll_tool/secret_text.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find(sep, pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        out.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

bool names_user(std::string_view line, std::string_view user) {
    const auto f = pam_totp::usersfile_fields(line);
    return f.size() >= 2 && f[0].front() != '#' && f[1] == user;
}

void check_user(std::string_view text, std::string_view user, bool check_secrecy) {
    auto parsed = pam_totp::parse_pam_oath_usersfile(text, user);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code == pam_totp::Errc::format || parsed.error().code == pam_totp::Errc::not_found);
        FUZZ_CHECK(parsed.error().message.starts_with("usersfile"));
        if (check_secrecy) {
            FUZZ_CHECK_MSG(!fuzz::message_looks_secret(parsed.error().message), parsed.error().message);
        }
        return;
    }
    const auto& tokens = parsed.value().tokens;
    const std::vector<std::string_view> lines = split(text, '\n');
    std::size_t expected = 0;
    for (const std::string_view line : lines) {
        expected += names_user(line, user) ? 1 : 0;
    }
    FUZZ_CHECK(!tokens.empty() && tokens.size() <= pam_totp::max_tokens_per_file);
    FUZZ_CHECK(tokens.size() == expected);
    std::size_t previous_line = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const pam_totp::PamOathToken& t = tokens[i];
        FUZZ_CHECK(t.line_no > previous_line && t.line_no <= lines.size());
        previous_line = t.line_no;
        FUZZ_CHECK(names_user(lines[t.line_no - 1], user));
        FUZZ_CHECK(t.key.size() >= pam_totp::min_secret_bytes && t.key.size() <= pam_totp::max_secret_bytes);
        FUZZ_CHECK(t.digits == 6 || t.digits == 8);
        if (t.type == pam_totp::TokenType::totp) {
            FUZZ_CHECK(t.period == 30 || t.period == 60);
        } else {
            FUZZ_CHECK(t.counter <= pam_totp::max_start_counter);
        }
        if (t.last_otp) {
            const std::string_view otp = t.last_otp->view();
            FUZZ_CHECK(otp.size() == t.digits);
            for (const char c : otp) {
                FUZZ_CHECK(c >= '0' && c <= '9');
            }
        }
        for (std::size_t j = 0; j < i; ++j) {
            FUZZ_CHECK(tokens[j].key.view() != t.key.view());
        }
    }
    auto again = pam_totp::parse_pam_oath_usersfile(text, user);
    FUZZ_CHECK(again.ok() && again.value().tokens.size() == tokens.size() &&
               again.value().other_lines == parsed.value().other_lines);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const pam_totp::PamOathToken& a = tokens[i];
        const pam_totp::PamOathToken& b = again.value().tokens[i];
        FUZZ_CHECK(a.line_no == b.line_no && a.type == b.type && a.key.view() == b.key.view() && a.digits == b.digits &&
                   a.period == b.period && a.counter == b.counter && a.pin_elsewhere == b.pin_elsewhere &&
                   a.last_otp.has_value() == b.last_otp.has_value());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    check_user(text, "alice", true);
    // Also the user the first line names, so that the fuzzer can pick one.
    const std::vector<std::string_view> first = pam_totp::usersfile_fields(text.substr(0, text.find('\n')));
    if (first.size() >= 2 && first[1].size() <= 64) {
        check_user(text, first[1], false);
    }

    auto key = pam_totp::decode_secret_text(text.substr(0, 4096));
    if (key) {
        FUZZ_CHECK(key.value().size() >= pam_totp::min_secret_bytes &&
                   key.value().size() <= pam_totp::max_secret_bytes);
        auto again = pam_totp::decode_secret_text(text.substr(0, 4096));
        FUZZ_CHECK(again.ok() && again.value().view() == key.value().view());
    } else {
        FUZZ_CHECK(key.error().code == pam_totp::Errc::format);
        FUZZ_CHECK_MSG(!fuzz::message_looks_secret(key.error().message), key.error().message);
    }
    return 0;
}
