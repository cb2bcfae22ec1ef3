// --list and --resync: the tokens of an enrollment.
#include <algorithm>
#include <ctime>
#include <string>

#include "command_support.h"
#include "commands.h"
#include "console.h"
#include "core/otp/hotp.h"
#include "core/otp/totp.h"
#include "report.h"

namespace totp_enroll {

using pam_totp::SecretFile;
using pam_totp::SecureBuffer;
using pam_totp::TokenEntry;
using pam_totp::TokenType;

int run_list(const CliOptions& opts, const Target& t) {
    auto file = read_enrollment(t);
    if (!file) {
        return fail(file.error().message);
    }
    out(opts.json ? list_json(t.user, t.path, file.value()) : list_text(t.user, t.path, file.value()));
    return exit_done;
}

namespace {

// The token --resync works on: the one --name names, or the only one.
pam_totp::Result<TokenEntry> token_to_resync(const CliOptions& opts, const Target& t, const SecretFile& file) {
    if (opts.name) {
        const TokenEntry* token = file.find(*opts.name);
        if (token == nullptr) {
            return pam_totp::make_error(pam_totp::Errc::not_found, no_such_token(t, file, *opts.name));
        }
        return token->clone();
    }
    if (file.tokens.size() != 1) {
        return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                    t.user + " has " + std::to_string(file.tokens.size()) + " tokens (" +
                                        token_names(file) + "); say which to resynchronise with --name NAME");
    }
    return file.tokens.front().clone();
}

pam_totp::Error no_code() {
    return pam_totp::make_error(pam_totp::Errc::invalid_argument,
                                "no code entered (end of input); nothing was changed");
}

// A resync's result with a message that says what to do: `not_found` for
// codes that are not consecutive, or the error and how to try again.
template <typename T>
pam_totp::Result<T> explained(pam_totp::Result<T> found, const std::string& not_found) {
    if (!found && found.error().code == pam_totp::Errc::not_found) {
        return pam_totp::make_error(pam_totp::Errc::not_found, not_found);
    }
    if (!found) {
        return pam_totp::make_error(
            found.error().code,
            found.error().message +
                "; nothing was changed. Run totp-enroll --resync again and type the codes as the token shows them");
    }
    return found;
}

// Two consecutive codes of a TOTP token (RFC 6238 section 6: a validation
// system may record the detected clock drift and resynchronise): where its
// clock stands against this machine's.
pam_totp::Result<pam_totp::TotpResync> resync_totp(const TokenEntry& token) {
    out("Resynchronising token " + token.name +
        " (time-based): enter the code it shows now, then wait for the next one and enter that too.\n");
    auto first = ask_code("Enter the code the token shows now: ");
    if (!first) {
        return no_code();
    }
    auto second = ask_code("Wait for the next code, then enter it: ");
    if (!second) {
        return no_code();
    }
    return explained(pam_totp::totp_resync(token.key, token.params, first->view(), second->view(), ::time(nullptr)),
                     "the two codes are not consecutive codes of token " + token.name + " within " +
                         std::to_string(pam_totp::max_clock_offset) +
                         " seconds of this machine's clock; check that both come from " + token.name +
                         ", one right after the other, and that this machine's clock is right (timedatectl); "
                         "nothing was changed");
}

// Two consecutive codes of an HOTP token (RFC 4226 section 7.4: the
// server asks for the next code(s) and resynchronises when they are
// consecutive), searched from the file's counter on: the next counter.
pam_totp::Result<std::uint64_t> resync_hotp(const TokenEntry& token) {
    out("Resynchronising token " + token.name + " (counter-based): press its button twice, entering each code.\n");
    auto first = ask_code("Press the token's button and enter the code: ");
    if (!first) {
        return no_code();
    }
    auto second = ask_code("Press it again and enter the next code: ");
    if (!second) {
        return no_code();
    }
    const std::uint64_t span = std::min(pam_totp::max_hotp_resync, pam_totp::max_hotp_counter - token.counter);
    return explained(
        pam_totp::hotp_resync(token.key, token.params.digits, first->view(), second->view(), token.counter, span),
        "the two codes are not consecutive codes of token " + token.name + " at counters " +
            std::to_string(token.counter) + " to " + std::to_string(token.counter + span) +
            "; check that both come from " + token.name +
            ", one press after the other (a token pressed more often than that needs to be enrolled "
            "anew); nothing was changed");
}

}  // namespace

int run_resync(const CliOptions& opts, const Target& t) {
    SecureBuffer key;
    std::string name;
    std::optional<pam_totp::TotpResync> clock;
    std::optional<std::uint64_t> counter;
    {
        auto current = read_enrollment(t);
        if (!current) {
            return fail(current.error().message);
        }
        if (!current.value()) {
            return fail(not_enrolled(t, "run totp-enroll first"));
        }
        auto token = token_to_resync(opts, t, *current.value());
        if (!token) {
            return fail(token.error().message);
        }
        if (token.value().type == TokenType::totp) {
            auto found = resync_totp(token.value());
            if (!found) {
                return fail(found.error().message);
            }
            clock = found.value();
        } else {
            auto found = resync_hotp(token.value());
            if (!found) {
                return fail(found.error().message);
            }
            counter = found.value();
        }
        key = token.value().key.clone();
        name = token.value().name;
    }
    // Under the lock: the same token (name and secret) as the codes came from.
    const auto session = open_session(t);
    if (!session) {
        return fail(session.error().message + "; nothing was changed");
    }
    auto file = read_for_change(session.value(), t, "run totp-enroll first");
    if (!file) {
        return fail(file.error().message + "; nothing was changed");
    }
    auto it = std::find_if(file.value().tokens.begin(), file.value().tokens.end(),
                           [&](const TokenEntry& e) { return e.name == name; });
    if (it == file.value().tokens.end() || !pam_totp::constant_time_equal(it->key.view(), key.view())) {
        return fail("token " + name +
                    " was removed or replaced while you were typing the codes; nothing was "
                    "changed. Run totp-enroll --resync again.");
    }
    std::string done;
    if (clock) {
        const long before = it->offset;
        it->offset = clock->offset;
        // Both codes were typed here: neither, nor any earlier one, logs in.
        it->confirmed_until = std::max(it->confirmed_until, clock->used_until);
        done = "Token " + name + ": clock offset now " + offset_text(it->offset) + " (was " + offset_text(before) +
               "); logins look for its codes there.\n";
    } else {
        const std::uint64_t before = it->counter;
        // The counter only ever moves forward (RFC 4226 section 7.4).
        it->counter = std::max(it->counter, *counter);
        done = "Token " + name + ": counter now " + std::to_string(it->counter) + " (was " + std::to_string(before) +
               "); its next code logs in.\n";
    }
    return write_and_show(session.value().editor, file.value(), {}, done);
}

}  // namespace totp_enroll
