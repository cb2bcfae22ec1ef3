// libFuzzer target: parse_module_options (core/login/module_options.h). The input
// is split into argv words on NUL or newline, as libpam would hand them over.
// Properties: errors are Errc::invalid_argument with a message that quotes
// no value (nothing that looks like a pasted secret); accepted
// options are within their documented ranges; parsing is deterministic and
// independent of the order of the words (each option may appear only once).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/login/module_options.h"
#include "core/otp/totp.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr std::size_t max_words = 64;

bool same(const pam_totp::ModuleOptions& a, const pam_totp::ModuleOptions& b) {
    return a.secret == b.secret && a.state_dir == b.state_dir && a.nullok == b.nullok && a.window == b.window &&
           a.rate.deny == b.rate.deny && a.rate.fail_interval == b.rate.fail_interval &&
           a.rate.unlock_time == b.rate.unlock_time && a.rate.max_unlock_time == b.rate.max_unlock_time &&
           a.prompt == b.prompt && a.echo_code == b.echo_code && a.first_pass == b.first_pass &&
           a.forward_pass == b.forward_pass && a.defer == b.defer && a.no_recovery == b.no_recovery &&
           a.debug == b.debug;
}

bool printable(const std::string& s) {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

pam_totp::Result<pam_totp::ModuleOptions> parse(const std::vector<std::string>& words) {
    std::vector<const char*> argv;
    argv.reserve(words.size());
    for (const std::string& w : words) {
        argv.push_back(w.c_str());
    }
    return pam_totp::parse_module_options(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    std::vector<std::string> words;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size() && words.size() < max_words; ++i) {
        if (i == text.size() || text[i] == '\0' || text[i] == '\n') {
            if (i < text.size() || i > start) {
                words.emplace_back(text.substr(start, i - start));
            }
            start = i + 1;
        }
    }

    auto opts = parse(words);
    if (!opts) {
        FUZZ_CHECK(opts.error().code == pam_totp::Errc::invalid_argument);
        FUZZ_CHECK(!opts.error().message.empty());
        FUZZ_CHECK_MSG(!fuzz::message_looks_secret(opts.error().message), opts.error().message);
        return 0;
    }
    const pam_totp::ModuleOptions& o = opts.value();
    FUZZ_CHECK(!o.window || *o.window <= pam_totp::max_window);
    FUZZ_CHECK(o.rate.deny >= 1 && o.rate.deny <= pam_totp::max_deny);
    FUZZ_CHECK(o.rate.fail_interval >= 1 && o.rate.fail_interval <= pam_totp::max_seconds_option);
    FUZZ_CHECK(o.rate.unlock_time >= 1 && o.rate.unlock_time <= pam_totp::max_seconds_option);
    FUZZ_CHECK(o.rate.max_unlock_time >= o.rate.unlock_time);
    FUZZ_CHECK(o.rate.max_unlock_time <= pam_totp::max_seconds_option);
    FUZZ_CHECK(!o.prompt.empty() && o.prompt.size() <= pam_totp::max_prompt_length && printable(o.prompt));
    FUZZ_CHECK(!o.secret.empty() && printable(o.secret));
    FUZZ_CHECK(!o.state_dir.empty() && o.state_dir.front() == '/' && printable(o.state_dir));
    FUZZ_CHECK(!o.defer || o.forward_pass);  // defer only collects for a forward_pass stack

    // Accepted words name distinct options, so any order means the same.
    std::vector<std::string> reversed(words.rbegin(), words.rend());
    auto opts2 = parse(reversed);
    FUZZ_CHECK(opts2.ok());
    FUZZ_CHECK(same(o, opts2.value()));
    return 0;
}
