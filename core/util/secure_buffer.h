// A byte buffer for secrets: it wipes itself (explicit_bzero) whenever its
// contents are released, so a key or a typed code never outlives its use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pam_totp {

class SecureBuffer {
  public:
    SecureBuffer() noexcept = default;
    explicit SecureBuffer(std::size_t size);  // zero-filled
    SecureBuffer(const void* data, std::size_t size);
    explicit SecureBuffer(std::string_view text) : SecureBuffer(text.data(), text.size()) {}
    ~SecureBuffer();

    SecureBuffer(SecureBuffer&& other) noexcept;
    SecureBuffer& operator=(SecureBuffer&& other) noexcept;
    SecureBuffer(const SecureBuffer&) = delete;  // copies of secrets are explicit: clone()
    SecureBuffer& operator=(const SecureBuffer&) = delete;

    [[nodiscard]] SecureBuffer clone() const { return SecureBuffer(m_data, m_size); }

    [[nodiscard]] std::uint8_t* data() noexcept { return m_data; }
    [[nodiscard]] const std::uint8_t* data() const noexcept { return m_data; }
    [[nodiscard]] const char* chars() const noexcept { return reinterpret_cast<const char*>(m_data); }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
    [[nodiscard]] std::string_view view() const noexcept { return {chars(), m_size}; }

    // Appends, growing into a fresh allocation and wiping the old one.
    void append(const void* data, std::size_t size);
    void append(std::string_view text) { append(text.data(), text.size()); }
    // Shrinks the logical size; the bytes past it are wiped at once.
    void truncate(std::size_t size) noexcept;
    void clear() noexcept;

  private:
    void reserve(std::size_t capacity);

    std::uint8_t* m_data = nullptr;
    std::size_t m_size = 0;
    std::size_t m_capacity = 0;
};

// Compares in time that depends only on the lengths, never on the contents.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// Wipes `n` bytes at `p` and frees it: for secrets a C library allocated
// with malloc (liboath's decoded keys, libpam's conversation replies).
// Null is fine.
void wipe_free(char* p, std::size_t n) noexcept;

}  // namespace pam_totp
