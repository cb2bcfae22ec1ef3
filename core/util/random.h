// Randomness straight from the kernel (getrandom(2)); no user-space PRNG.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

// Fills `out` completely, retrying on EINTR and short reads; blocks until the
// kernel pool is initialised, as a key generator must.
Status fill_random(void* out, std::size_t size);

// `size` random bytes in a self-wiping buffer (for keys).
Result<SecureBuffer> random_bytes(std::size_t size);

// A random value in [0, bound), without modulo bias (rejection sampling).
Result<std::uint32_t> random_below(std::uint32_t bound);

// `bytes` random bytes as lower-case hex (for ids and temp-file names; not secret).
Result<std::string> random_hex(std::size_t bytes);

}  // namespace pam_totp
