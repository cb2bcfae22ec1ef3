/* bench/load_once.c MODULE: prints how many microseconds dlopen(MODULE,
 * RTLD_NOW) and dlclose take in this fresh process, which (like sshd) is
 * linked with libpam and libcrypt and nothing else: the cost a new sshd,
 * login or sudo process pays to load a module at pam_start. bench_logins
 * runs it many times per module. C on purpose: a C++ program would already
 * have libstdc++ loaded and hide what loading it costs. */
#include <crypt.h>
#include <dlfcn.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: load_once MODULE\n");
        return 2;
    }
    /* Referenced, so that --as-needed keeps both libraries loaded. */
    const char* (*volatile keep_pam)(pam_handle_t*, int) = pam_strerror;
    char* (*volatile keep_crypt)(const char*, const char*, struct crypt_data*) = crypt_r;
    (void)keep_pam;
    (void)keep_crypt;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "load_once: %s\n", dlerror());
        return 1;
    }
    dlclose(h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.1f\n", (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3);
    return 0;
}
