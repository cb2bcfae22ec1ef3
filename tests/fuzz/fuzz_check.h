// Shared by the libFuzzer targets: a property that does not hold is a crash
// (abort), so libFuzzer stops, keeps the input and tests/fuzz/run.sh files it
// under tests/fuzz/regressions/<target>/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                    \
        }                                                                                    \
    } while (0)

// The same, printing an error message from the code under test as well.
#define FUZZ_CHECK_MSG(cond, message)                                                                         \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            std::fprintf(stderr, "%s:%d: property failed: %s (message: \"%s\")\n", __FILE__, __LINE__, #cond, \
                         std::string(message).c_str());                                                       \
            std::abort();                                                                                     \
        }                                                                                                     \
    } while (0)

namespace fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
    return {reinterpret_cast<const char*>(data), size};
}

inline bool is_crypt_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
}

// True when an error message holds what looks like a secret or a hash: a run
// of 16 or more base32 characters (a secret's fragment; messages are lower
// case apart from short words) or a yescrypt prefix. A property of the message
// alone: comparing it with the input instead fails whenever the fuzzer copies
// message text into a value.
inline bool message_looks_secret(std::string_view message) noexcept {
    // "$y$PARAMS$SALT...": a real salt is 22 characters; the messages only
    // name the shape ("$y$params$salt$hash").
    for (std::size_t at = message.find("$y$"); at != std::string_view::npos; at = message.find("$y$", at + 1)) {
        std::size_t i = at + 3;
        while (i < message.size() && message[i] != '$' && message[i] != ' ') {
            ++i;
        }
        std::size_t salt = 0;
        for (++i; i < message.size() && is_crypt_char(message[i]); ++i) {
            ++salt;
        }
        if (salt >= 12) {
            return true;
        }
    }
    std::size_t run = 0;
    for (const char c : message) {
        const bool base32 = (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
        run = base32 ? run + 1 : 0;
        if (run >= 16) {
            return true;
        }
    }
    return false;
}

}  // namespace fuzz
