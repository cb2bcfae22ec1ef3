// libFuzzer target: the request pam_totp_check reads from a caller it does
// not trust (core/login/helper_protocol.h), and the options check that
// follows it (helper_policy.h). Properties: a request is accepted only
// when it is well formed (hello first with version 1, a valid user, at most
// 64 args, printable service/tty/rhost, nothing after end) and then it
// encodes back to exactly the input; every refusal is Errc::format; the
// policy check never lets a request through with options that differ from
// the allowed ones in the policy fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/login/helper_policy.h"
#include "core/login/helper_protocol.h"
#include "core/util/text.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace helper = pam_totp::helper;
    const std::string_view bytes = fuzz::as_text(data, size);

    // Message framing on its own: a parsed message re-encodes to its bytes.
    std::size_t used = 0;
    auto one = helper::parse_message(bytes, used);
    if (!one) {
        FUZZ_CHECK(one.error().code == pam_totp::Errc::format);
    } else if (one.value()) {
        FUZZ_CHECK(used > 0 && used <= bytes.size());
        const pam_totp::SecureBuffer again = helper::encode(one.value()->kind, one.value()->value.view());
        FUZZ_CHECK(again.view() == bytes.substr(0, used));
    } else {
        FUZZ_CHECK(used == 0);
    }

    auto request = helper::decode_request(bytes);
    if (!request) {
        FUZZ_CHECK_MSG(request.error().code == pam_totp::Errc::format, request.error().message);
        return 0;
    }
    const helper::Request& r = request.value();
    FUZZ_CHECK(!r.user.empty() && r.user.size() <= 256);
    FUZZ_CHECK(r.args.size() <= helper::max_args);
    FUZZ_CHECK(pam_totp::printable_ascii(r.service) && pam_totp::printable_ascii(r.tty) &&
               pam_totp::printable_ascii(r.rhost));
    for (const std::string& a : r.args) {
        FUZZ_CHECK(!a.empty() && a.find('\0') == std::string::npos);
    }

    // The options check: against the defaults only (no helper.conf).
    std::vector<const char*> argv;
    for (const std::string& a : r.args) {
        argv.push_back(a.c_str());
    }
    auto opts = pam_totp::parse_module_options(static_cast<int>(argv.size()), argv.data());
    if (opts) {
        auto allowed = pam_totp::allowed_policies(std::nullopt);
        FUZZ_CHECK(allowed.ok() && allowed.value().size() == 1);
        const bool passes = pam_totp::check_policy(opts.value(), allowed.value()).ok();
        const pam_totp::ModuleOptions defaults;
        FUZZ_CHECK(passes == pam_totp::same_policy(opts.value(), defaults));
        if (passes) {
            FUZZ_CHECK(opts.value().secret == defaults.secret && opts.value().state_dir == defaults.state_dir &&
                       opts.value().rate.deny == defaults.rate.deny && opts.value().store == defaults.store);
        }
    }
    return 0;
}
