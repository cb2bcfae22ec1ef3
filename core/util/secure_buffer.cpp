#include "core/util/secure_buffer.h"

#include <string.h>  // explicit_bzero

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace pam_totp {

SecureBuffer::SecureBuffer(std::size_t size) {
    reserve(size);
    m_size = size;
}

SecureBuffer::SecureBuffer(const void* data, std::size_t size) {
    append(data, size);
}

SecureBuffer::~SecureBuffer() {
    clear();
}

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : m_data(std::exchange(other.m_data, nullptr)),
      m_size(std::exchange(other.m_size, 0)),
      m_capacity(std::exchange(other.m_capacity, 0)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
    if (this != &other) {
        clear();
        m_data = std::exchange(other.m_data, nullptr);
        m_size = std::exchange(other.m_size, 0);
        m_capacity = std::exchange(other.m_capacity, 0);
    }
    return *this;
}

void SecureBuffer::reserve(std::size_t capacity) {
    if (capacity <= m_capacity) {
        return;
    }
    // Zero-initialised so that a buffer made with a size never exposes old heap bytes.
    auto* fresh = new std::uint8_t[capacity]();
    if (m_size > 0) {
        std::memcpy(fresh, m_data, m_size);
    }
    if (m_data != nullptr) {
        ::explicit_bzero(m_data, m_capacity);
        delete[] m_data;
    }
    m_data = fresh;
    m_capacity = capacity;
}

void SecureBuffer::append(const void* data, std::size_t size) {
    if (size == 0) {
        return;
    }
    if (m_size + size > m_capacity) {
        reserve(std::max(m_size + size, m_capacity * 2));
    }
    std::memcpy(m_data + m_size, data, size);
    m_size += size;
}

void SecureBuffer::truncate(std::size_t size) noexcept {
    if (size < m_size) {
        ::explicit_bzero(m_data + size, m_size - size);
        m_size = size;
    }
}

void SecureBuffer::clear() noexcept {
    if (m_data != nullptr) {
        ::explicit_bzero(m_data, m_capacity);
        delete[] m_data;
    }
    m_data = nullptr;
    m_size = 0;
    m_capacity = 0;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    // Lengths are public (a code has a fixed number of digits); contents are not.
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    }
    // Keep the compiler from turning the loop into an early-exit compare.
    volatile unsigned char sink = diff;
    return sink == 0;
}

void wipe_free(char* p, std::size_t n) noexcept {
    if (p != nullptr) {
        ::explicit_bzero(p, n);
        std::free(p);  // NOLINT(cppcoreguidelines-no-malloc): allocated with malloc by the C library
    }
}

}  // namespace pam_totp
