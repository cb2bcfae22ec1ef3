/* module_cycles MODULE N: loads and unloads the PAM module N times the way
 * libpam does at every pam_start/pam_end (dlopen RTLD_NOW, dlclose), and
 * checks each time that it exports exactly the PAM entry points: the two
 * pam_sm_* functions resolve, and nothing of the C++ inside does (neither
 * pam_totp's own functions nor the C++ runtime it carries). Run under
 * valgrind by make check: no leak may grow with the number of cycles.
 * Exits 0 when all is well, 1 with a message otherwise. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* Symbols that a module built without the version script, or with a
 * shared C++ runtime re-exported, would show. */
static const char* const hidden[] = {
    "_ZN8pam_totp9run_loginERNS_7LoginIoERKNS_13ModuleOptionsERNS_10StateStoreE",
    "_Znwm",            /* operator new */
    "__cxa_throw",      /* the C++ runtime */
    "_ZSt9terminatev",  /* std::terminate */
    "pam_sm_acct_mgmt", /* entry points it does not provide */
    "pam_sm_open_session",
};

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: module_cycles MODULE N\n");
        return 2;
    }
    const long cycles = strtol(argv[2], NULL, 10);
    for (long i = 0; i < cycles; ++i) {
        void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "cycle %ld: dlopen: %s\n", i, dlerror());
            return 1;
        }
        if (dlsym(h, "pam_sm_authenticate") == NULL || dlsym(h, "pam_sm_setcred") == NULL) {
            fprintf(stderr, "cycle %ld: a pam_sm_* entry point is missing\n", i);
            return 1;
        }
        for (size_t k = 0; k < sizeof hidden / sizeof hidden[0]; ++k) {
            if (dlsym(h, hidden[k]) != NULL) {
                fprintf(stderr, "cycle %ld: the module exports %s\n", i, hidden[k]);
                return 1;
            }
        }
        if (dlclose(h) != 0) {
            fprintf(stderr, "cycle %ld: dlclose: %s\n", i, dlerror());
            return 1;
        }
    }
    printf("ok - %ld dlopen/dlclose cycles, only pam_sm_authenticate and pam_sm_setcred exported\n", cycles);
    return 0;
}
