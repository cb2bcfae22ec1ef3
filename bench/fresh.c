/* bench/fresh.c: the fresh-process model of bench_logins (bench/README.md).
 *
 * A long-lived parent linked like sshd: libpam and libcrypt loaded, no PAM
 * module ever loaded by the parent itself, no C++ runtime. For each login
 * it is asked for, it forks a child that runs pam_start_confdir ->
 * pam_authenticate -> pam_end and _exits with the result; the parent times
 * fork to wait4. So every login loads and relocates its modules (and their
 * libraries) in a new process, as each sshd connection, login, su or sudo
 * does. C on purpose: a C++ parent would have libstdc++ loaded already and
 * hide what loading it costs a module.
 *
 *   bench_fresh            serve: read requests on stdin, one a line,
 *                            CONFDIR \t SERVICE \t USER \t ANSWER
 *                          and answer each on stdout with one line,
 *                            RC TOTAL FORK START AUTH END EXIT MINFLT CPU
 *                          RC the PAM result (-1: the child did not exit
 *                          normally); TOTAL fork to wait4, in ns, and its
 *                          phases: FORK to the child's first instruction,
 *                          START pam_start_confdir (reads the stack and
 *                          loads its modules), AUTH pam_authenticate, END
 *                          pam_end (unloads them), EXIT from there until
 *                          wait4 returns (exit, address space torn down);
 *                          MINFLT the child's minor page faults and CPU
 *                          its user + system time in µs (wait4).
 *                          Ends at end of input. With BENCH_FRESH_STAMPS=FILE
 *                          in the environment, it also appends to FILE, for
 *                          each login, "PID T0 CHILD START AUTH END T1":
 *                          the child's pid and the CLOCK_MONOTONIC times
 *                          (ns) of fork, the child's start, the end of each
 *                          phase and wait4's return, for matching samples of
 *                          `perf record -k mono` to phases (profile_fresh.py).
 *   bench_fresh --once CONFDIR SERVICE USER ANSWER
 *                          one login in this process, no fork: for
 *                          `perf stat`, `strace -c`, LD_DEBUG=statistics.
 *                          Prints the phases in ns; exits with RC.
 *
 * The phase stamps go through one shared anonymous page: no system call is
 * added to the timed login (clock_gettime is the vDSO). */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <security/pam_appl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct stamps {
    int64_t child_start;
    int64_t after_start;
    int64_t after_auth;
    int64_t after_end;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Every prompt gets the one prepared answer. */
static int converse(int n, const struct pam_message** msgs, struct pam_response** resp, void* data) {
    if (n <= 0 || n > PAM_MAX_NUM_MSG) {
        return PAM_CONV_ERR;
    }
    struct pam_response* replies = calloc((size_t)n, sizeof *replies);
    if (replies == NULL) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < n; ++i) {
        const int style = msgs[i]->msg_style;
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
            replies[i].resp = strdup((const char*)data);
        }
    }
    *resp = replies;
    return PAM_SUCCESS;
}

/* One login in this process, stamped into `st`. */
static int one_login(const char* confdir, const char* service, const char* user, char* answer, struct stamps* st) {
    const struct pam_conv conv = {converse, answer};
    pam_handle_t* pamh = NULL;
    st->child_start = now_ns();
    int rc = pam_start_confdir(service, user, &conv, confdir, &pamh);
    st->after_start = now_ns();
    if (rc == PAM_SUCCESS) {
        rc = pam_authenticate(pamh, PAM_SILENT);
    }
    st->after_auth = now_ns();
    if (pamh != NULL) {
        pam_end(pamh, rc);
    }
    st->after_end = now_ns();
    return rc;
}

static int serve(void) {
    FILE* stamp_log = NULL;
    const char* stamp_path = getenv("BENCH_FRESH_STAMPS");
    if (stamp_path != NULL && *stamp_path != '\0') {
        stamp_log = fopen(stamp_path, "ae");
        if (stamp_log == NULL) {
            perror("bench_fresh: BENCH_FRESH_STAMPS");
            return 2;
        }
    }
    struct stamps* st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (st == MAP_FAILED) {
        perror("bench_fresh: mmap");
        return 2;
    }
    char* line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n') {
            line[len - 1] = '\0';
        }
        char* field[4];
        char* rest = line;
        for (int i = 0; i < 4; ++i) {
            field[i] = strsep(&rest, "\t");
            if (field[i] == NULL) {
                fprintf(stderr, "bench_fresh: a request needs 4 fields\n");
                return 2;
            }
        }
        memset(st, 0, sizeof *st);
        const int64_t t0 = now_ns();
        const pid_t pid = fork();
        if (pid < 0) {
            perror("bench_fresh: fork");
            return 2;
        }
        if (pid == 0) {
            _exit(one_login(field[0], field[1], field[2], field[3], st) & 0xff);
        }
        int status = 0;
        struct rusage ru;
        while (wait4(pid, &status, 0, &ru) < 0) {
            if (errno != EINTR) {
                perror("bench_fresh: wait4");
                return 2;
            }
        }
        const int64_t t1 = now_ns();
        const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        const int stamped = st->after_end != 0;
        const long long cpu_us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                                 (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
        printf("%d %lld %lld %lld %lld %lld %lld %ld %lld\n", rc, (long long)(t1 - t0),
               stamped ? (long long)(st->child_start - t0) : 0LL,
               stamped ? (long long)(st->after_start - st->child_start) : 0LL,
               stamped ? (long long)(st->after_auth - st->after_start) : 0LL,
               stamped ? (long long)(st->after_end - st->after_auth) : 0LL,
               stamped ? (long long)(t1 - st->after_end) : 0LL, ru.ru_minflt, cpu_us);
        if (fflush(stdout) != 0) {
            return 2;
        }
        if (stamp_log != NULL) {
            fprintf(stamp_log, "%ld %lld %lld %lld %lld %lld %lld\n", (long)pid, (long long)t0,
                    (long long)st->child_start, (long long)st->after_start, (long long)st->after_auth,
                    (long long)st->after_end, (long long)t1);
        }
    }
    if (stamp_log != NULL && fclose(stamp_log) != 0) {
        return 2;
    }
    free(line);
    return 0;
}

int main(int argc, char** argv) {
    /* Referenced, so that --as-needed keeps both libraries loaded, as in
     * sshd (and in every stack with pam_unix, which links libcrypt). */
    const char* (*volatile keep_pam)(pam_handle_t*, int) = pam_strerror;
    char* (*volatile keep_crypt)(const char*, const char*, struct crypt_data*) = crypt_r;
    (void)keep_pam;
    (void)keep_crypt;
    if (argc == 6 && strcmp(argv[1], "--once") == 0) {
        struct stamps st;
        const int rc = one_login(argv[2], argv[3], argv[4], argv[5], &st);
        printf("rc %d start %lld auth %lld end %lld\n", rc, (long long)(st.after_start - st.child_start),
               (long long)(st.after_auth - st.after_start), (long long)(st.after_end - st.after_auth));
        return rc & 0xff;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: bench_fresh (requests on stdin) | bench_fresh --once CONFDIR SERVICE USER ANSWER\n");
        return 2;
    }
    return serve();
}
