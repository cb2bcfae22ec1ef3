/* A library a hostile caller puts in LD_PRELOAD (tests/locker, hostile
 * environment): when it is loaded into pam_totp_check it leaves a marker
 * file and ends the process with status 0, which the module would take for
 * "code accepted". The setuid helper must never load it (the dynamic
 * loader's secure mode); the test checks that the marker never appears and
 * that the same library does act in a copy of the helper that is not
 * setuid (so that a missing marker means something).
 *
 * cc -shared -fPIC -DMARKER_DIR='"/dir"' -o preload_marker.so preload_marker.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef MARKER_DIR
#error "MARKER_DIR must be defined"
#endif

__attribute__((constructor)) static void take_over(void) {
    if (strstr(program_invocation_short_name, "check") == NULL) {
        return; /* pamtester, setpriv, prlimit: left alone */
    }
    char path[512];
    snprintf(path, sizeof path, "%s/loaded-%ld-uid%u-euid%u", MARKER_DIR, (long)getpid(), (unsigned)getuid(),
             (unsigned)geteuid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
        close(fd);
    }
    _exit(0);
}
