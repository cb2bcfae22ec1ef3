#include "core/util/random.h"

#include <sys/random.h>

#include <cerrno>
#include <limits>

namespace pam_totp {

Status fill_random(void* out, std::size_t size) {
    auto* p = static_cast<unsigned char*>(out);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::getrandom(p + done, size - done, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return make_error(Errc::io, errno_message("getrandom", errno));
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Result<SecureBuffer> random_bytes(std::size_t size) {
    SecureBuffer buf(size);
    if (Status st = fill_random(buf.data(), size); !st) {
        return st.error();
    }
    return buf;
}

Result<std::uint32_t> random_below(std::uint32_t bound) {
    if (bound == 0) {
        return make_error(Errc::invalid_argument, "random_below: bound must be positive");
    }
    // Reject the top sliver of the range so that every residue is equally likely.
    const std::uint32_t limit =
        std::numeric_limits<std::uint32_t>::max() - (std::numeric_limits<std::uint32_t>::max() % bound);
    for (;;) {
        std::uint32_t v = 0;
        if (Status st = fill_random(&v, sizeof v); !st) {
            return st.error();
        }
        if (v < limit) {
            return v % bound;
        }
    }
}

Result<std::string> random_hex(std::size_t bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string raw(bytes, '\0');
    if (Status st = fill_random(raw.data(), raw.size()); !st) {
        return st.error();
    }
    std::string hex;
    hex.reserve(bytes * 2);
    for (const char c : raw) {
        const auto b = static_cast<unsigned char>(c);
        hex.push_back(digits[b >> 4]);
        hex.push_back(digits[b & 0x0f]);
    }
    return hex;
}

}  // namespace pam_totp
