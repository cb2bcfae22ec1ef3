// pam_totp.so: the PAM entry points, and nothing else. Each is a noexcept
// shim that runs its body through pam_guard (core/pam_glue.h), so no
// exception reaches libpam and every internal error denies.
#include "pam_module/pam_glue.h"

#define PAM_TOTP_EXPORT __attribute__((visibility("default")))

extern "C" {

PAM_TOTP_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) noexcept {
    return pam_totp::pam_guard(pamh, [&] { return pam_totp::authenticate(pamh, flags, argc, argv); });
}

// Nothing to establish: the code proves possession, it grants no credential.
PAM_TOTP_EXPORT int pam_sm_setcred(pam_handle_t* /*pamh*/, int /*flags*/, int /*argc*/,
                                   const char** /*argv*/) noexcept {
    return PAM_SUCCESS;
}

}  // extern "C"
