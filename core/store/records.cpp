#include "core/store/records.h"

#include <algorithm>
#include <iterator>

namespace pam_totp {

bool settle_stale_charge(AccountRecord& account, const RateLimitConfig& config) {
    if (!account.charge) {
        return false;
    }
    (void)record_failure(account.budget, config, *account.charge, account.charge_weight);
    account.charge.reset();
    account.charge_weight = 1;
    return true;
}

bool settle_stale_pending(TokenRecord& token) {
    const bool any = token.pending_until.has_value() || token.pending_recovery.has_value();
    if (token.pending_until) {
        token.used_until = std::max(token.used_until, *token.pending_until);
        token.pending_until.reset();
    }
    if (token.pending_recovery) {
        // It may have been a right one, used by a login that then died: used.
        remember_maybe_used_recovery(token, *token.pending_recovery);
        token.pending_recovery.reset();
    }
    return any;
}

void remember_used_recovery(TokenRecord& token, const UsedRecovery& used_in) {
    UsedRecovery used = used_in;
    // One entry per code, as full as what is known of it.
    for (const UsedRecovery& u : token.used_recovery) {
        if (used.tag && u.tag == used.tag && used.setting.empty()) {
            used.setting = u.setting;
        }
        if (!used.tag && !used.setting.empty() && u.setting == used.setting) {
            used.tag = u.tag;
        }
    }
    std::erase_if(token.used_recovery, [&used](const UsedRecovery& u) {
        return (used.tag && u.tag == used.tag) || (!used.setting.empty() && u.setting == used.setting);
    });
    if (used.tag) {
        std::erase(token.maybe_used_recovery, *used.tag);
    }
    token.used_recovery.push_back(used);
    if (token.used_recovery.size() > max_used_recovery) {
        token.used_recovery.erase(token.used_recovery.begin());
    }
}

void remember_grace(AccountRecord& account, const RecoveryTag& place, std::time_t when) {
    std::erase_if(account.grace, [&place](const GraceRecord& g) { return g.place == place; });
    account.grace.push_back(GraceRecord{place, when});
    std::stable_sort(account.grace.begin(), account.grace.end(),
                     [](const GraceRecord& a, const GraceRecord& b) { return a.granted < b.granted; });
    if (account.grace.size() > max_grace_records) {
        account.grace.erase(
            account.grace.begin(),
            account.grace.begin() + static_cast<std::ptrdiff_t>(account.grace.size() - max_grace_records));
    }
}

void remember_maybe_used_recovery(TokenRecord& token, const RecoveryTag& tag) {
    if (recovery_used(token, tag)) {
        return;
    }
    token.maybe_used_recovery.push_back(tag);
    if (token.maybe_used_recovery.size() > max_maybe_used_recovery) {
        token.maybe_used_recovery.erase(token.maybe_used_recovery.begin());
    }
}

bool recovery_used(const TokenRecord& token, const RecoveryTag& tag) noexcept {
    return std::any_of(token.used_recovery.begin(), token.used_recovery.end(),
                       [&tag](const UsedRecovery& u) { return u.tag == tag; }) ||
           std::find(token.maybe_used_recovery.begin(), token.maybe_used_recovery.end(), tag) !=
               token.maybe_used_recovery.end();
}

std::vector<std::string> used_settings(const TokenRecord& token) {
    std::vector<std::string> out;
    for (const UsedRecovery& u : token.used_recovery) {
        if (!u.setting.empty()) {
            out.push_back(u.setting);
        }
    }
    return out;
}

std::size_t recovery_codes_left(const TokenRecord& token, const std::vector<std::string>& hashes) {
    const std::vector<std::string> used = used_settings(token);
    return static_cast<std::size_t>(std::count_if(hashes.begin(), hashes.end(), [&used](const std::string& hash) {
        return std::find(used.begin(), used.end(), recovery_code_setting(hash)) == used.end();
    }));
}

void merge_into(AccountRecord& into, const AccountRecord& from) {
    Budget& b = into.budget;
    b.locked_until = std::max(b.locked_until, from.budget.locked_until);
    b.debt_until = std::max(b.debt_until, from.budget.debt_until);
    b.lockouts = std::max(b.lockouts, from.budget.lockouts);
    b.since_success = std::max(b.since_success, from.budget.since_success);
    // Several wrong codes may share a second: for each time, as many as the
    // side with more of them has (both may hold the same ones: merging
    // twice counts nothing twice; dropping duplicates lost failures).
    std::vector<std::time_t> mine = b.recent;
    std::vector<std::time_t> theirs = from.budget.recent;
    std::sort(mine.begin(), mine.end());
    std::sort(theirs.begin(), theirs.end());
    b.recent.clear();
    std::set_union(mine.begin(), mine.end(), theirs.begin(), theirs.end(), std::back_inserter(b.recent));
    if (b.recent.size() > max_deny) {
        b.recent.erase(b.recent.begin(), b.recent.begin() + static_cast<std::ptrdiff_t>(b.recent.size() - max_deny));
    }
    if (from.last_login && (!into.last_login || from.last_login->when > into.last_login->when)) {
        into.last_login = from.last_login;
    }
    for (const GraceRecord& g : from.grace) {
        const auto own = std::find_if(into.grace.begin(), into.grace.end(),
                                      [&g](const GraceRecord& m) { return m.place == g.place; });
        if (own == into.grace.end() || own->granted < g.granted) {
            remember_grace(into, g.place, g.granted);
        }
    }
}

void merge_into(TokenRecord& into, const TokenRecord& from) {
    into.used_until = std::max(into.used_until, from.used_until);
    if (from.hotp_next) {
        into.hotp_next = std::max(into.hotp_next.value_or(0), *from.hotp_next);
    }
    if (!into.drift) {
        into.drift = from.drift;
    }
    for (const UsedRecovery& used : from.used_recovery) {
        remember_used_recovery(into, used);
    }
    for (const RecoveryTag& tag : from.maybe_used_recovery) {
        remember_maybe_used_recovery(into, tag);
    }
}

}  // namespace pam_totp
