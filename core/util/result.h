// Errors as values for core/: no exception ever crosses into the PAM module.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pam_totp {

// What went wrong, coarse enough for callers to decide (deny, ignore, retry).
enum class Errc {
    not_found,         // the file does not exist (the only case `nullok` may forgive)
    io,                // a system call failed (read, write, fsync, rename, ...)
    unsafe,            // a file or directory failed an ownership/mode/type check
    format,            // malformed content; the message names the line
    invalid_argument,  // a bad parameter, option, user name or template
    permission,        // the caller lacks the privilege to do this
    busy,              // a lock could not be taken
    conflict,          // another login claimed what this one was about to (begin again)
    not_durable,       // the change is in place, but the directory fsync failed
    unavailable,       // a shared store (PostgreSQL) cannot be reached, answers too late, or is read-only
};

struct Error {
    Errc code;
    std::string message;  // for the log; never contains a secret or a code
};

// A value or an Error. Small on purpose: C++20 has no std::expected.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : m_v(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : m_v(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const noexcept { return m_v.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    const Error& error() const& { return std::get<1>(m_v); }
    Error&& error() && { return std::get<1>(std::move(m_v)); }

  private:
    std::variant<T, Error> m_v;
};

// Success or an Error, for operations that return nothing.
class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(Error error) : m_error(std::move(error)), m_failed(true) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const noexcept { return !m_failed; }
    explicit operator bool() const noexcept { return ok(); }
    const Error& error() const& { return m_error; }

  private:
    Error m_error{Errc::io, {}};
    bool m_failed = false;
};

inline Error make_error(Errc code, std::string message) {
    return Error{code, std::move(message)};
}

// "what: strerror(errno)" for a failed system call.
std::string errno_message(const std::string& what, int err);

// The one errno -> Errc mapping: EACCES/EPERM are Errc::permission (the
// caller lacks a privilege, worth telling apart), ENOENT Errc::not_found,
// anything else Errc::io.
Errc errc_for_errno(int err) noexcept;

// An Error for a failed system call: errc_for_errno(err) and
// errno_message(what, err), with a hint when the disk or quota is full.
Error errno_error(const std::string& what, int err);

}  // namespace pam_totp
