// The bridge between libpam and the login flow: the PAM conversation,
// syslog, PAM items and privilege switching, and the one guard that every
// pam_sm_* entry point runs its body through.
#pragma once

// Not <security/pam_modules.h>: it declares pam_sm_* without noexcept, and
// the shims in pam_module/ must be their first, noexcept, declarations.
#include <security/pam_ext.h>
#include <syslog.h>

#include <exception>
#include <new>

namespace pam_totp {

// The body of pam_sm_authenticate: parses the options, runs the login and
// maps the outcome to a PAM return code (deny unless the login succeeded).
int authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv);

// Runs `body` and turns every escaping exception into a failure (after
// Botan's ffi_guard_thunk): nothing may unwind into libpam's C frames, and
// an internal error must never read as success.
template <typename Body>
int pam_guard(pam_handle_t* pamh, Body&& body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        ::pam_syslog(pamh, LOG_CRIT, "out of memory; denying");
        return PAM_BUF_ERR;
    } catch (const std::exception& e) {
        ::pam_syslog(pamh, LOG_CRIT, "internal error (%s); denying", e.what());
    } catch (...) {
        ::pam_syslog(pamh, LOG_CRIT, "internal error; denying");
    }
    return PAM_AUTH_ERR;
}

}  // namespace pam_totp
