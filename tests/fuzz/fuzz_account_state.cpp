// libFuzzer target: parse_account_state (core/store/state_format.h), the
// text of one account's state (format 2).
// Properties: errors are Errc::format, name the file kind and quote no secret
// or hash; a state that parses stays within the format's bounds, and
// serialise(parse(x)) parses to the same value and serialises to the same
// bytes, within max_state_text. What a login does to a state (settling a
// dead attempt, recording a used recovery code (also one carried over from
// pam_totp 0.1), a failure, a success, pruning) keeps it serialisable the
// same way.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/otp/rate_limit.h"
#include "core/store/records.h"
#include "core/store/state_format.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void check_round_trip(const pam_totp::AccountState& state) {
    const std::string text = pam_totp::serialise_account_state(state);
    FUZZ_CHECK(text.size() <= pam_totp::max_state_text);
    auto again = pam_totp::parse_account_state(text);
    FUZZ_CHECK_MSG(again.ok(), again.ok() ? std::string() : again.error().message);
    FUZZ_CHECK(again.value() == state);
    FUZZ_CHECK(pam_totp::serialise_account_state(again.value()) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    auto parsed = pam_totp::parse_account_state(text);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code == pam_totp::Errc::format);
        FUZZ_CHECK(parsed.error().message.starts_with("state file"));
        FUZZ_CHECK_MSG(!fuzz::message_looks_secret(parsed.error().message), parsed.error().message);
        return 0;
    }
    pam_totp::AccountState state = std::move(parsed).value();
    FUZZ_CHECK(!state.account.empty());
    FUZZ_CHECK(state.tokens.size() <= pam_totp::max_tokens_per_state);
    FUZZ_CHECK(state.record.budget.recent.size() <= pam_totp::max_deny);
    for (const auto& [id, token] : state.tokens) {
        FUZZ_CHECK(token.used_recovery.size() <= pam_totp::max_used_recovery);
        FUZZ_CHECK(pam_totp::TokenId::from_hex(id.hex()) == id);
    }
    check_round_trip(state);

    // A login's changes: the dead attempt settled, one more failure (or a
    // success), a recovery code used, the records pruned.
    const pam_totp::RateLimitConfig config;
    const std::time_t now = state.record.charge.value_or(1764290000);
    (void)pam_totp::settle_stale_charge(state.record, config);
    std::vector<pam_totp::TokenId> in_use;
    for (auto& [id, token] : state.tokens) {
        (void)pam_totp::settle_stale_pending(token);
        FUZZ_CHECK(!token.pending_until && !token.pending_recovery);
        in_use.push_back(id);
    }
    if (size % 2 == 0) {
        (void)pam_totp::record_failure(state.record.budget, config, now);
    } else {
        pam_totp::record_success(state.record.budget);
    }
    FUZZ_CHECK(state.record.budget.recent.size() <= pam_totp::max_deny);
    if (!state.tokens.empty()) {
        pam_totp::TokenRecord& first = state.tokens.begin()->second;
        pam_totp::RecoveryTag tag;
        tag.bytes[0] = static_cast<std::uint8_t>(size);
        pam_totp::remember_used_recovery(first, pam_totp::UsedRecovery{tag, "$y$j9T$abcdefghijklmnopqrstu1"});
        FUZZ_CHECK(first.used_recovery.size() <= pam_totp::max_used_recovery);
        FUZZ_CHECK(pam_totp::recovery_used(first, tag));
        // And one carried over from pam_totp 0.1 (its setting only).
        pam_totp::remember_used_recovery(first, pam_totp::UsedRecovery{std::nullopt, "$y$j9T$F5Jx5fExrKuPp53xLKQ..1"});
        FUZZ_CHECK(first.used_recovery.size() <= pam_totp::max_used_recovery);
    }
    pam_totp::prune_token_records(state, in_use);
    check_round_trip(state);
    return 0;
}
