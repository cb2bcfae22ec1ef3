#include "core/otp/recovery.h"

#include <crypt.h>
#include <string.h>  // explicit_bzero

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/util/hash.h"
#include "core/util/random.h"
#include "core/util/text.h"

namespace pam_totp {

namespace {

// Anything longer is not a code someone typed; refuse it before looking at it.
constexpr std::size_t max_typed_length = 64;

// "XXXX-XXXX-XXXX": a dash after every group of four symbols.
constexpr std::size_t group_size = 4;
constexpr std::size_t formatted_chars = recovery_code_chars + (recovery_code_chars - 1) / group_size;

constexpr bool in_alphabet(char c) noexcept {
    return recovery_alphabet.find(c) != std::string_view::npos;
}

constexpr char ascii_upper(char c) noexcept {
    if (c >= 'a' && c <= 'z') {
        return static_cast<char>(c - 'a' + 'A');
    }
    return c;
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// The one parser behind normalise_recovery_code and looks_like_recovery_code:
// calls put(index, symbol) for each canonical symbol and returns the number
// of symbols when `typed`, ignoring spaces and dashes, is either
// recovery_code_chars symbols of the alphabet or legacy_code_digits digits
// (a scratch code imported from google-authenticator); 0 otherwise.
template <typename Put>
std::size_t canonicalise(std::string_view typed, Put&& put) noexcept {
    if (typed.size() > max_typed_length) {
        return 0;
    }
    std::size_t count = 0;
    std::size_t digits = 0;
    bool alphabet_only = true;
    for (const char raw : typed) {
        if (raw == ' ' || raw == '-') {
            continue;
        }
        const char c = ascii_upper(raw);
        const bool digit = is_digit(c);
        if ((!in_alphabet(c) && !digit) || count == recovery_code_chars) {
            return 0;
        }
        alphabet_only = alphabet_only && in_alphabet(c);
        digits += digit ? 1 : 0;
        put(count, c);
        ++count;
    }
    if (count == recovery_code_chars && alphabet_only) {
        return count;
    }
    if (count == legacy_code_digits && digits == count) {
        return count;
    }
    return 0;
}

bool is_canonical(const SecureBuffer& code) noexcept {
    const std::string_view v = code.view();
    if (v.size() == legacy_code_digits) {
        return std::all_of(v.begin(), v.end(), is_digit);
    }
    return v.size() == recovery_code_chars && std::all_of(v.begin(), v.end(), in_alphabet);
}

// libxcrypt's working area (32 KiB: too big for a PAM application's stack).
// It holds the passphrase and values derived from it, so it lives in a
// SecureBuffer, which zeroes it before first use (crypt_data must start
// zeroed) and wipes it when released. crypt_data is a plain aggregate of
// char arrays, so the byte buffer is a valid home for it.
class CryptScratch {
  public:
    CryptScratch() : m_buf(sizeof(crypt_data)) {}

    crypt_data* get() noexcept { return reinterpret_cast<crypt_data*>(m_buf.data()); }

    // Runs crypt_r on `phrase` (copied into the wiped area, NUL-terminated as
    // crypt_r needs) and `setting`. Returns the output, or nullptr on failure
    // (libxcrypt reports failure as NULL or a string starting with '*').
    const char* run(const SecureBuffer& phrase, const char* setting) noexcept {
        crypt_data* const data = get();
        if (phrase.size() >= sizeof data->input) {
            return nullptr;
        }
        std::memcpy(data->input, phrase.data(), phrase.size());
        data->input[phrase.size()] = '\0';
        const char* const out = ::crypt_r(data->input, setting, data);
        ::explicit_bzero(data->input, sizeof data->input);
        if (out == nullptr || out[0] == '*') {
            return nullptr;
        }
        return out;
    }

  private:
    static_assert(alignof(crypt_data) == 1, "crypt_data is expected to be plain char arrays");
    SecureBuffer m_buf;
};

struct FreeDeleter {
    // libxcrypt allocates the setting with malloc.
    void operator()(char* p) const noexcept { std::free(p); }  // NOLINT(cppcoreguidelines-no-malloc)
};

}  // namespace

Result<SecureBuffer> generate_recovery_code() {
    SecureBuffer code(formatted_chars);
    std::size_t pos = 0;
    for (std::size_t i = 0; i < recovery_code_chars; ++i) {
        if (i > 0 && i % group_size == 0) {
            code.data()[pos++] = '-';
        }
        Result<std::uint32_t> r = random_below(static_cast<std::uint32_t>(recovery_alphabet.size()));
        if (!r) {
            return std::move(r).error();
        }
        code.data()[pos++] = static_cast<std::uint8_t>(recovery_alphabet[r.value()]);
    }
    return code;
}

Result<SecureBuffer> normalise_recovery_code(std::string_view typed) {
    SecureBuffer out(recovery_code_chars);
    std::uint8_t* const dst = out.data();
    const std::size_t n =
        canonicalise(typed, [dst](std::size_t i, char c) noexcept { dst[i] = static_cast<std::uint8_t>(c); });
    out.truncate(n);
    if (n == 0) {
        // The typed text is (close to) a secret: the message does not repeat it.
        return make_error(Errc::format, "not a recovery code");
    }
    return out;
}

bool looks_like_recovery_code(std::string_view typed) noexcept {
    return canonicalise(typed, [](std::size_t, char) noexcept {}) != 0;
}

namespace {

constexpr std::size_t salt_chars = 22;
constexpr std::size_t hash_chars = 43;

bool crypt_alphabet(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
    });
}

}  // namespace

bool is_recovery_setting(std::string_view text) noexcept {
    return text.size() == recovery_hash_prefix.size() + salt_chars && text.starts_with(recovery_hash_prefix) &&
           crypt_alphabet(text.substr(recovery_hash_prefix.size()));
}

bool is_recovery_hash(std::string_view text) noexcept {
    const std::size_t setting = recovery_hash_prefix.size() + salt_chars;
    return text.size() == setting + 1 + hash_chars && is_recovery_setting(text.substr(0, setting)) &&
           text[setting] == '$' && crypt_alphabet(text.substr(setting + 1));
}

Result<std::string> hash_recovery_code(const SecureBuffer& canonical) {
    if (!is_canonical(canonical)) {
        return make_error(Errc::invalid_argument, "hash_recovery_code: the code is not in canonical form");
    }
    // "$y$" with count 5: the j9T cost of recovery_hash_prefix, spelled out
    // rather than left to libxcrypt's default (which the module would then
    // refuse if a newer libxcrypt raised it). Fresh random salt.
    constexpr unsigned long cost_count = 5;
    errno = 0;
    const std::unique_ptr<char, FreeDeleter> setting(::crypt_gensalt_ra("$y$", cost_count, nullptr, 0));
    if (setting == nullptr) {
        return make_error(Errc::io, errno_message("crypt_gensalt_ra($y$)", errno));
    }
    CryptScratch scratch;
    const char* const out = scratch.run(canonical, setting.get());
    if (out == nullptr) {
        return make_error(Errc::io, "crypt_r: yescrypt hashing of a recovery code failed");
    }
    std::string hash(out);
    if (!is_recovery_hash(hash)) {
        return make_error(Errc::io, "crypt_r: yescrypt returned a hash of an unexpected form");
    }
    return hash;
}

std::string recovery_code_setting(std::string_view hash) {
    // "$y$j9T$salt$hash" -> "$y$j9T$salt": unique per code because the salt
    // is random, and useless for guessing the code.
    const std::size_t last = hash.rfind('$');
    if (last == std::string_view::npos) {
        return std::string(hash);
    }
    return std::string(hash.substr(0, last));
}

std::string RecoveryTag::hex() const {
    return to_hex(bytes);
}

std::optional<RecoveryTag> RecoveryTag::from_hex(std::string_view text) {
    RecoveryTag tag;
    if (!pam_totp::from_hex(text, tag.bytes)) {
        return std::nullopt;
    }
    return tag;
}

RecoveryTag recovery_tag(const SecureBuffer& token_key, const SecureBuffer& canonical) {
    static constexpr std::string_view label{"pam_totp recovery tag v1\0", 25};
    const Sha256Digest mac =
        hmac_sha256({token_key.data(), token_key.size()}, {bytes_of(label), {canonical.data(), canonical.size()}});
    RecoveryTag tag;
    std::copy_n(mac.begin(), tag.bytes.size(), tag.bytes.begin());
    return tag;
}

Result<long> find_recovery_code(const SecureBuffer& canonical, const std::vector<std::string>& hashes,
                                const std::vector<std::string>& used_settings) {
    if (!is_canonical(canonical)) {
        return make_error(Errc::invalid_argument, "find_recovery_code: the code is not in canonical form");
    }
    CryptScratch scratch;
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        const std::string& hash = hashes[i];
        if (!is_recovery_hash(hash)) {
            return make_error(Errc::format, "recovery-code hash #" + std::to_string(i + 1) +
                                                " is not of the form totp-enroll writes");
        }
        const std::string setting = recovery_code_setting(hash);
        if (std::find(used_settings.begin(), used_settings.end(), setting) != used_settings.end()) {
            continue;
        }
        // The stored hash is its own setting: crypt_r re-derives it from the code.
        const char* const out = scratch.run(canonical, hash.c_str());
        if (out == nullptr) {
            return make_error(Errc::format, "crypt_r failed on recovery-code hash #" + std::to_string(i + 1) +
                                                " (not a valid yescrypt hash?)");
        }
        const bool match = constant_time_equal(out, hash);
        // The output is derived from the code: do not leave it for the next round.
        ::explicit_bzero(scratch.get()->output, sizeof scratch.get()->output);
        if (match) {
            return static_cast<long>(i);
        }
    }
    return -1L;
}

}  // namespace pam_totp
