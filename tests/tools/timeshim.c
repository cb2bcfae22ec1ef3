/* A simulated clock for tests that are about time (lockout expiry, the
 * long-horizon guessing budget, a new TOTP step), so that none of them
 * sleeps: LD_PRELOAD=timeshim.so with TIME_SHIM_FILE=PATH moves the wall
 * clock (time, gettimeofday, clock_gettime with CLOCK_REALTIME) by the
 * signed number of seconds written in PATH, read again at every call so a
 * test can move time between two logins. Without the variable, or with the
 * file missing or malformed, the offset is 0. The monotonic clocks are left
 * alone. Test builds only: nothing installed loads it (and the dynamic
 * linker ignores LD_PRELOAD for setuid programs anyway).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long offset_seconds(void) {
    const char* path = getenv("TIME_SHIM_FILE");
    if (path == NULL) {
        return 0;
    }
    const int saved = errno;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return 0;
    }
    char buf[32];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    errno = saved;
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    char* end = NULL;
    const long long v = strtoll(buf, &end, 10);
    return end == buf ? 0 : v;
}

static int real_clock_gettime(clockid_t clk, struct timespec* ts) {
    static int (*real)(clockid_t, struct timespec*);
    if (real == NULL) {
        /* POSIX's way to store dlsym's result in a function pointer. */
        *(void**)(&real) = dlsym(RTLD_NEXT, "clock_gettime");
    }
    return real(clk, ts);
}

int clock_gettime(clockid_t clk, struct timespec* ts) {
    const int rc = real_clock_gettime(clk, ts);
    if (rc == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE)) {
        ts->tv_sec += (time_t)offset_seconds();
    }
    return rc;
}

time_t time(time_t* out) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return (time_t)-1;
    }
    if (out != NULL) {
        *out = ts.tv_sec;
    }
    return ts.tv_sec;
}

int gettimeofday(struct timeval* restrict tv, void* restrict tz) {
    (void)tz;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return -1;
    }
    /* glibc declares tv nonnull: a NULL here is the caller's bug. */
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
    return 0;
}
