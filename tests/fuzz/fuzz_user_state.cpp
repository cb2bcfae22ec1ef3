// libFuzzer target: parse_user_state (core/user_state.h).
// Properties: errors are Errc::format and quote no secret or hash; a state that
// parses round-trips through serialise_user_state (same value, same bytes),
// and rebinding to a new enrollment keeps the result serialisable.
#include <cstddef>
#include <cstdint>

#include "core/store/user_state.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    auto parsed = pam_totp::parse_user_state(text);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code == pam_totp::Errc::format);
        FUZZ_CHECK(!parsed.error().message.empty());
        FUZZ_CHECK_MSG(!fuzz::message_looks_secret(parsed.error().message), parsed.error().message);
        return 0;
    }
    const pam_totp::UserState& state = parsed.value();
    FUZZ_CHECK(state.failures.size() <= pam_totp::max_failures_kept);
    FUZZ_CHECK(state.used_recovery.size() <= pam_totp::max_used_recovery);

    const std::string text1 = pam_totp::serialise_user_state(state);
    auto again = pam_totp::parse_user_state(text1);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again.value() == state);
    FUZZ_CHECK(pam_totp::serialise_user_state(again.value()) == text1);

    // A re-enrollment forgets the used codes, keeps the step (time only moves
    // on) and the lockout, and stays a valid state.
    pam_totp::UserState rebound = state;
    pam_totp::rebind_user_state(rebound, "0123456789abcdef0123456789abcdef");
    auto rebound_parsed = pam_totp::parse_user_state(pam_totp::serialise_user_state(rebound));
    FUZZ_CHECK(rebound_parsed.ok());
    FUZZ_CHECK(rebound_parsed.value() == rebound);
    if (state.enrollment_id != rebound.enrollment_id) {
        FUZZ_CHECK(rebound.used_recovery.empty());
    }
    FUZZ_CHECK(rebound.last_step == state.last_step);
    FUZZ_CHECK(rebound.locked_until == state.locked_until && rebound.lockouts == state.lockouts);
    return 0;
}
