// bench_logins: times full logins through the real libpam
// (pam_start_confdir -> pam_authenticate -> pam_end) for pam_permit (the
// floor), pam_google_authenticator, pam_oath and pam_totp, with the same
// secrets for all, at several numbers of enrolled users. Run by
// bench/run.sh inside a private mount namespace whose /etc/passwd holds the
// bench users (bt00000, bt00001, ...) and whose /dev/log is a socket drained
// here; see bench/README.md. Writes Markdown tables.
//
// Two process models, side by side in one run: in-process (the login runs
// in this long-lived process) and, with --fresh, fresh-process (each login
// in a new process forked by bench_fresh, bench/fresh.c, a parent linked
// like sshd that never loads a module itself).
//
// Each user logs in at most once per scenario and model: a correct code can
// be used only once per 30-second step (pam_totp and google-authenticator's
// DISALLOW_REUSE refuse the replay), and pam_totp locks after deny=5 wrong
// codes; each model has its own copy of every module's files. The lanes
// (model, stack) take turns user by user (in a shuffled order), so that a
// change in the machine's load during the run touches all of them alike.
#include <dirent.h>
#include <fcntl.h>
#include <liboath/oath.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/util/unique_fd.h"

namespace {

using pam_totp::UniqueFd;

constexpr unsigned secret_bytes = 20;  // 160 bits, as totp-enroll and google-authenticator make
constexpr unsigned digits = 6;
constexpr unsigned period = 30;

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "bench_logins: %s\n", what.c_str());
    std::exit(2);
}

[[noreturn]] void die_errno(const std::string& what) {
    die(what + ": " + std::strerror(errno));
}

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string user_name(unsigned index) {
    char buf[16];
    (void)std::snprintf(buf, sizeof buf, "bt%05u", index);
    return buf;
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
    const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd.valid()) {
        die_errno("create " + path);
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die_errno("write " + path);
        }
        done += static_cast<std::size_t>(n);
    }
}

void make_dir(const std::string& path, mode_t mode = 0700) {
    if (::mkdir(path.c_str(), mode) != 0 || ::chmod(path.c_str(), mode) != 0) {
        die_errno("mkdir " + path);
    }
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
        const ssize_t got = ::getrandom(out.data() + done, n - done, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            die_errno("getrandom");
        }
        done += static_cast<std::size_t>(got);
    }
    return out;
}

std::string base32(const std::string& bin) {
    char* out = nullptr;
    std::size_t len = 0;
    if (::oath_base32_encode(bin.data(), bin.size(), &out, &len) != OATH_OK) {
        die("oath_base32_encode failed");
    }
    std::string text(out, len);
    std::free(out);
    while (!text.empty() && text.back() == '=') {
        text.pop_back();
    }
    return text;
}

std::string hex(const std::string& bin) {
    std::string out(bin.size() * 2 + 1, '\0');
    ::oath_bin2hex(bin.data(), bin.size(), out.data());
    out.resize(bin.size() * 2);
    return out;
}

// The RFC 6238 code for `secret` at time `when`.
std::string totp_code(const std::string& secret, std::time_t when) {
    char out[16] = {};
    if (::oath_totp_generate(secret.data(), secret.size(), when, period, 0, digits, out) != OATH_OK) {
        die("oath_totp_generate failed");
    }
    return out;
}

// A 6-digit code that is none of the codes of the steps around now (so
// wrong for every module's window).
std::string wrong_code(const std::string& secret) {
    const std::time_t t = std::time(nullptr);
    std::vector<std::string> near;
    for (int d = -3; d <= 3; ++d) {
        near.push_back(totp_code(secret, t + d * static_cast<int>(period)));
    }
    unsigned v = static_cast<unsigned>(std::strtoul(near[3].c_str(), nullptr, 10));
    for (;;) {
        v = (v + 500009U) % 1000000U;
        char buf[8];
        (void)std::snprintf(buf, sizeof buf, "%06u", v);
        if (std::find(near.begin(), near.end(), buf) == near.end()) {
            return buf;
        }
    }
}

// The conversation: every prompt gets the prepared answer.
int converse(int n, const pam_message** msgs, pam_response** resp, void* data) {
    if (n <= 0 || n > PAM_MAX_NUM_MSG) {
        return PAM_CONV_ERR;
    }
    const auto* answer = static_cast<const std::string*>(data);
    auto* replies = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
    if (replies == nullptr) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < n; ++i) {
        const int style = msgs[i]->msg_style;
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
            replies[i].resp = ::strdup(answer->c_str());
        }
    }
    *resp = replies;
    return PAM_SUCCESS;
}

// The phases of a fresh-process login (bench/fresh.c), in ns.
enum Phase : std::size_t { fork_phase = 0, start_phase, auth_phase, end_phase, exit_phase, phase_count };
constexpr const char* phase_names[phase_count] = {"fork → child runs", "pam_start (loads the modules)",
                                                  "pam_authenticate", "pam_end (unloads them)", "exit → wait4 returns"};

struct Login {
    std::int64_t ns = 0;
    bool as_expected = false;
    std::array<std::int64_t, phase_count> phases{};  // fresh-process model only
    long minflt = 0;                                 // fresh-process model only: the child's page faults
    long long cpu_us = 0;                            // fresh-process model only: the child's CPU time
    int rc = PAM_SUCCESS;                            // what the stack answered
};

Login login(const std::string& confdir, const std::string& service, const std::string& user, const std::string& answer,
            bool expect_success) {
    const pam_conv conv{converse, const_cast<std::string*>(&answer)};
    pam_handle_t* pamh = nullptr;
    const std::int64_t t0 = now_ns();
    int rc = ::pam_start_confdir(service.c_str(), user.c_str(), &conv, confdir.c_str(), &pamh);
    if (rc == PAM_SUCCESS) {
        rc = ::pam_authenticate(pamh, PAM_SILENT);
    }
    ::pam_end(pamh, rc);
    const std::int64_t t1 = now_ns();
    Login l{t1 - t0, (rc == PAM_SUCCESS) == expect_success};
    l.rc = rc;
    return l;
}

// `flush` is no stack: the reference lane, one flush per user (pwrite of a
// 1 KiB slot in place + fdatasync, pam_totp's durable write) timed in the
// same shuffled order as the logins, so that it meets the same disk.
// The fleet stacks (bench/README.md, "Fleet") are pam_totp with store=postgresql,
// reaching a throwaway cluster over its Unix socket or over TCP with TLS.
enum StackId : std::size_t {
    permit = 0,
    ga = 1,
    oath = 2,
    totp = 3,
    flush = 4,
    fleet_socket = 5,
    fleet_tls = 6,
    stack_count = 7
};
constexpr const char* stack_names[stack_count] = {"pam_permit",
                                                  "pam_google_authenticator",
                                                  "pam_oath",
                                                  "pam_totp",
                                                  "one flush (pwrite 1 KiB + fdatasync)",
                                                  "pam_totp_pgsql_socket",
                                                  "pam_totp_pgsql_tls"};
constexpr bool is_fleet(StackId s) {
    return s == fleet_socket || s == fleet_tls;
}

enum class Scenario { valid, wrong, recovery };

struct User {
    unsigned index = 0;
    std::string name;
    std::string secret;                  // raw key bytes
    std::optional<std::string> scratch;  // 8-digit google-authenticator scratch code
};

struct Population {
    unsigned n = 0;
    std::string root;
    std::string confdir;
    std::string confdir_fresh;  // the fresh-process model's stacks, on their own copy of the files
    std::vector<User> users;
    std::vector<std::size_t> valid;     // indices into users: valid and wrong-code samples
    std::vector<std::size_t> recovery;  // users with a scratch code (a subset of valid)
    std::vector<std::size_t> parallel;  // disjoint from valid
    // The fleet pass (empty when not measured at this size): its stacks, each
    // on stores of its own (a database each, a state_dir for the file store).
    std::string confdir_fleet_in;       // in-process: pam_totp (files) and the two fleet stacks
    std::string confdir_fleet_fresh;    // fresh-process: the same on other stores; also the capacity runs
    std::string confdir_fleet_profile;  // the fleet stacks on a third pair of databases, for pq_clock
    std::vector<std::size_t> fleet;     // a subset of valid
    std::vector<std::size_t> profile;   // a subset of fleet
    std::vector<std::size_t> capacity;  // a subset of parallel: one process on the first half, two on the rest
};

struct Options {
    std::string module;
    std::string enroll;
    std::string work;
    std::string out;
    int log_fd = -1;
    unsigned total = 10000;
    std::vector<unsigned> sizes{100, 2000, 10000};
    unsigned sample = 1000;
    unsigned recovery = 50;
    unsigned parallel = 500;  // per process
    std::string only;         // profiling: valid codes through this stack only
    std::string load_probe;   // bench/load_once.c, built: module load in a new process
    std::string fresh;        // bench/fresh.c, built: the fresh-process model (none: in-process only)
    bool only_fresh = false;  // --only in the fresh-process model
    std::string pamdir;       // where pam_permit.so and the peers are
    unsigned load_runs = 100;
    // The fleet rows (bench/fleet_store.py made FLEET_DIR: NAME.conf per database, info).
    std::string fleet_dir;
    std::vector<unsigned> fleet_sizes{2000};
    unsigned fleet_sample = 200;    // users timed through each fleet lane
    unsigned fleet_capacity = 400;  // logins of each capacity run
    unsigned fleet_profile = 150;   // logins per transport under pq_clock
    std::string pq_clock;           // bench/pq_clock.c, built: where a fleet login's time goes
    std::string sshd_libs;          // the libraries sshd links that libpq needs too (LD_PRELOAD list)
};

// A google-authenticator file: the secret, TOTP, no reuse, the scratch code if any.
std::string ga_file_text(const User& u) {
    std::string text = base32(u.secret) + "\n\" TOTP_AUTH\n\" DISALLOW_REUSE\n";
    if (u.scratch) {
        text += *u.scratch + "\n";
    }
    return text;
}

// totp-enroll reads the google-authenticator file to import with the
// user's file-system identity and wants it owned by the user: it gets a copy
// of its own, in a directory it can reach (pop.root and import/ are 0711).
void run_enroll(const Options& opt, const Population& pop, const User& u, const std::string& ga_text) {
    const std::string secret_spec = pop.root + "/totp/secrets/%u";
    const std::string ga_file = pop.root + "/import/" + u.name;
    const passwd* pw = ::getpwnam(u.name.c_str());
    if (pw == nullptr) {
        die("getpwnam(" + u.name + ") found nothing: is this the bench namespace?");
    }
    write_file(ga_file, ga_text, 0600);
    if (::chown(ga_file.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        die_errno("chown " + ga_file);
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        die_errno("fork");
    }
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            (void)::dup2(devnull, STDIN_FILENO);
            (void)::dup2(devnull, STDOUT_FILENO);
        }
        ::execl(opt.enroll.c_str(), opt.enroll.c_str(), "--user", u.name.c_str(), "--secret-file", secret_spec.c_str(),
                "--import-google-authenticator", ga_file.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            die_errno("waitpid");
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        die("totp-enroll --import-google-authenticator failed for " + u.name);
    }
}

// Every `step`-th index of `from`, at most `count` of them, spread evenly.
std::vector<std::size_t> spread(const std::vector<std::size_t>& from, std::size_t count) {
    std::vector<std::size_t> out;
    if (from.empty() || count == 0) {
        return out;
    }
    count = std::min(count, from.size());
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(from[i * from.size() / count]);
    }
    return out;
}

bool fleet_at(const Options& opt, unsigned n) {
    return !opt.fleet_dir.empty() &&
           std::find(opt.fleet_sizes.begin(), opt.fleet_sizes.end(), n) != opt.fleet_sizes.end();
}

// Writes N users' secrets for all three modules. pam_totp's secret files are
// written directly in the v1 format of pam_totp-secret(5) for users without
// scratch codes, and through `totp-enroll --import-google-authenticator`
// (the migration path, which hashes the scratch code with yescrypt) for the
// recovery-code sample.
Population provision(const Options& opt, unsigned n) {
    Population pop;
    pop.n = n;
    pop.root = opt.work + "/n" + std::to_string(n);
    pop.confdir = pop.root + "/pam.d";
    const bool fresh = !opt.fresh.empty();
    make_dir(pop.root, 0711);
    make_dir(pop.root + "/import", 0711);
    make_dir(pop.root + "/ga");
    make_dir(pop.root + "/oath");
    make_dir(pop.root + "/totp");
    make_dir(pop.root + "/totp/secrets");
    make_dir(pop.confdir);
    if (fresh) {
        // The fresh-process model's stacks have their own copy of every
        // module's files (google-authenticator rewrites its file, pam_oath
        // its usersfile, pam_totp its state at each login): the same users
        // log in once through each model in the same 30-second step.
        pop.confdir_fresh = pop.root + "/pam.d-fresh";
        make_dir(pop.root + "/fresh");
        make_dir(pop.root + "/fresh/ga");
        make_dir(pop.root + "/fresh/oath");
        make_dir(pop.confdir_fresh);
    }

    // Population n: every (total/n)-th bench user, so that the average
    // position in /etc/passwd (getpwnam scans it) is the same for every n.
    const unsigned stride = opt.total / n;
    for (unsigned i = 0; i < n; ++i) {
        User u;
        u.index = i * stride;
        u.name = user_name(u.index);
        u.secret = random_bytes(secret_bytes);
        pop.users.push_back(std::move(u));
    }
    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i) {
        all[i] = i;
    }
    if (n >= 2 * std::max(opt.sample, 2 * opt.parallel)) {
        std::vector<std::size_t> even;
        std::vector<std::size_t> odd;
        for (std::size_t i = 0; i < n; ++i) {
            (i % 2 == 0 ? even : odd).push_back(i);
        }
        pop.valid = spread(even, opt.sample);
        pop.parallel = spread(odd, std::size_t{2} * opt.parallel);
    } else {
        pop.valid = spread(all, opt.sample);  // too few users for a disjoint parallel sample
    }
    pop.recovery = spread(pop.valid, opt.recovery);
    make_dir(pop.root + "/flush");
    for (const std::size_t k : pop.valid) {
        write_file(pop.root + "/flush/" + pop.users[k].name, std::string(2048, '\0'), 0600);
    }
    const std::string scratch_digits = random_bytes(4 * pop.recovery.size());
    for (std::size_t k = 0; k < pop.recovery.size(); ++k) {
        std::uint32_t r = 0;
        std::memcpy(&r, scratch_digits.data() + 4 * k, 4);
        pop.users[pop.recovery[k]].scratch = std::to_string(10000000U + r % 90000000U);  // GA: 8 digits, no leading 0
    }

    std::string usersfile;
    const std::time_t enrolled = std::time(nullptr);
    for (const User& u : pop.users) {
        const std::string ga_text = ga_file_text(u);
        write_file(pop.root + "/ga/" + u.name, ga_text, 0600);
        if (fresh) {
            write_file(pop.root + "/fresh/ga/" + u.name, ga_text, 0600);
        }
        usersfile += "HOTP/T30/6\t" + u.name + "\t-\t" + hex(u.secret) + "\n";
        if (!u.scratch) {
            write_file(pop.root + "/totp/secrets/" + u.name,
                       "version 1\nsecret " + base32(u.secret) + "\nalgorithm sha1\ndigits 6\nperiod 30\nenrolled " +
                           std::to_string(enrolled) + "\nenrollment_id " + hex(random_bytes(16)) + "\n",
                       0600);
        }
    }
    write_file(pop.root + "/oath/users.oath", usersfile, 0600);
    if (fresh) {
        write_file(pop.root + "/fresh/oath/users.oath", usersfile, 0600);
    }
    for (const std::size_t k : pop.recovery) {
        const User& u = pop.users[k];
        run_enroll(opt, pop, u, ga_file_text(u));
    }

    // pam_totp's secret files are read-only to the module: both models read
    // the same ones; each has its own state_dir (u-NAME, t-TOKEN), which
    // the module creates (root, 0700) at the first login.
    const auto write_stacks = [&opt, &pop](const std::string& confdir, const std::string& files,
                                           const std::string& state_dir) {
        // libpam reads "other" with every service (and logs an error when it is missing).
        write_file(confdir + "/other", "auth required pam_deny.so\n", 0644);
        write_file(confdir + "/pam_permit", "auth required pam_permit.so\n", 0644);
        write_file(confdir + "/pam_google_authenticator",
                   "auth required pam_google_authenticator.so secret=" + files + "/ga/${USER} user=root\n", 0644);
        write_file(confdir + "/pam_oath",
                   "auth required pam_oath.so usersfile=" + files + "/oath/users.oath window=1 digits=6\n", 0644);
        write_file(
            confdir + "/pam_totp",
            "auth required " + opt.module + " secret=" + pop.root + "/totp/secrets/%u state_dir=" + state_dir + "\n",
            0644);
    };
    write_stacks(pop.confdir, pop.root, pop.root + "/totp/state");
    if (fresh) {
        write_stacks(pop.confdir_fresh, pop.root + "/fresh", pop.root + "/fresh/totp-state");
    }
    if (fleet_at(opt, n)) {
        // The fleet pass: pam_totp on the file store and on the PostgreSQL
        // store, the same secret files; each stack on a store of its own
        // (bench/fleet_store.py made a database for each NAME.conf).
        pop.confdir_fleet_in = pop.root + "/pam.d-fleet-in";
        pop.confdir_fleet_fresh = pop.root + "/pam.d-fleet-fresh";
        pop.confdir_fleet_profile = pop.root + "/pam.d-fleet-profile";
        make_dir(pop.root + "/fleet");
        const std::string secrets = pop.root + "/totp/secrets/%u";
        const auto fleet_stacks = [&opt, &secrets](const std::string& confdir, const std::string& model,
                                                   const std::string& state_dir) {
            make_dir(confdir);
            write_file(confdir + "/other", "auth required pam_deny.so\n", 0644);
            if (!state_dir.empty()) {
                write_file(confdir + "/" + stack_names[totp],
                           "auth required " + opt.module + " secret=" + secrets + " state_dir=" + state_dir + "\n",
                           0644);
            }
            for (const auto& [s, transport] : {std::pair{fleet_socket, "socket"}, std::pair{fleet_tls, "tls"}}) {
                write_file(confdir + "/" + stack_names[s],
                           "auth required " + opt.module + " secret=" + secrets + " store=postgresql store_config=" +
                               opt.fleet_dir + "/" + model + "_" + transport + ".conf\n",
                           0644);
            }
        };
        fleet_stacks(pop.confdir_fleet_in, "in", pop.root + "/fleet/state-in");
        fleet_stacks(pop.confdir_fleet_fresh, "fresh", pop.root + "/fleet/state-fresh");
        fleet_stacks(pop.confdir_fleet_profile, "profile", "");
        pop.fleet = spread(pop.valid, opt.fleet_sample);
        pop.profile = spread(pop.fleet, opt.fleet_profile);
        if (pop.parallel.size() >= 2 * std::size_t{opt.fleet_capacity}) {
            pop.capacity = spread(pop.parallel, 2 * std::size_t{opt.fleet_capacity});
        }
    }
    // Nothing of the set-up left dirty in the page cache to be written back
    // during (and charged to) the first timed fsyncs.
    ::sync();
    return pop;
}

bool read_all(int fd, void* buf, std::size_t len) {
    auto* p = static_cast<char*>(buf);
    while (len > 0) {
        const ssize_t n = ::read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

bool write_all(int fd, const void* buf, std::size_t len) {
    const auto* p = static_cast<const char*>(buf);
    while (len > 0) {
        const ssize_t n = ::write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

// The two process models (bench/README.md). in_process: the login runs in
// this long-lived process, where each module's libraries stay loaded after
// its first login. fresh: each login runs in a new process forked by
// bench_fresh (bench/fresh.c), a parent linked like sshd (libpam, libcrypt)
// that never loads a module itself, so every login loads its modules, as
// each sshd connection, login, su or sudo does.
enum class Model { in_process = 0, fresh = 1 };
constexpr const char* model_names[2] = {"in-process", "fresh-process"};

struct Lane {
    Model model = Model::in_process;
    StackId stack = permit;
    auto operator<=>(const Lane&) const = default;
};

// bench_fresh, started once for the whole run: each login is one request
// line to its stdin and one answer line from its stdout (bench/fresh.c).
class FreshRunner {
  public:
    // `preload`, `preload_env`: profiling (bench/pq_clock.c): a library
    // preloaded into this bench_fresh alone, and the variable naming its output.
    explicit FreshRunner(const std::string& program, const std::string& preload = "",
                         const std::string& preload_env = "") {
        int in[2];
        int out[2];
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
            die_errno("pipe2");
        }
        m_pid = ::fork();
        if (m_pid < 0) {
            die_errno("fork");
        }
        if (m_pid == 0) {
            if (::dup2(in[0], STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0) {
                ::_exit(127);
            }
            // Profiling only (bench/call_clock.c): a library preloaded into bench_fresh alone.
            const char* env_preload = std::getenv("BENCH_FRESH_PRELOAD");
            if (!preload.empty()) {
                env_preload = preload.c_str();
                const std::size_t eq = preload_env.find('=');
                if (eq == std::string::npos ||
                    ::setenv(preload_env.substr(0, eq).c_str(), preload_env.substr(eq + 1).c_str(), 1) != 0) {
                    ::_exit(127);
                }
            }
            if (env_preload != nullptr && *env_preload != '\0' && ::setenv("LD_PRELOAD", env_preload, 1) != 0) {
                ::_exit(127);
            }
            ::execl(program.c_str(), program.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        m_to = UniqueFd(in[1]);
        m_from = ::fdopen(out[0], "r");
        if (m_from == nullptr) {
            die_errno("fdopen");
        }
    }
    FreshRunner(const FreshRunner&) = delete;
    FreshRunner& operator=(const FreshRunner&) = delete;
    ~FreshRunner() {
        m_to = UniqueFd();  // end of input: bench_fresh exits
        (void)std::fclose(m_from);
        (void)::waitpid(m_pid, nullptr, 0);
    }

    Login login(const std::string& confdir, const std::string& service, const std::string& user,
                const std::string& answer, bool expect_success) {
        const std::string request = confdir + "\t" + service + "\t" + user + "\t" + answer + "\n";
        if (!write_all(m_to.get(), request.data(), request.size())) {
            die_errno("bench_fresh: write");
        }
        int rc = 0;
        long long total = 0;
        std::array<long long, phase_count> ph{};
        long minflt = 0;
        long long cpu_us = 0;
        if (std::fscanf(m_from, "%d %lld %lld %lld %lld %lld %lld %ld %lld", &rc, &total, &ph[fork_phase],
                        &ph[start_phase], &ph[auth_phase], &ph[end_phase], &ph[exit_phase], &minflt, &cpu_us) != 9) {
            die("bench_fresh died or answered otherwise than expected");
        }
        Login l;
        l.ns = total;
        l.as_expected = rc >= 0 && (rc == PAM_SUCCESS) == expect_success;
        l.rc = rc;
        for (std::size_t i = 0; i < phase_count; ++i) {
            l.phases[i] = ph[i];
        }
        l.minflt = minflt;
        l.cpu_us = cpu_us;
        return l;
    }

  private:
    pid_t m_pid = -1;
    UniqueFd m_to;
    FILE* m_from = nullptr;
};

// The flush lane: the file is read first (untimed; pam_totp reads its state
// before it writes), then one slot rewritten and flushed (timed).
Login flush_once(const std::string& path) {
    const UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    char page[2048];
    if (!fd.valid() || ::pread(fd.get(), page, sizeof page, 0) != static_cast<ssize_t>(sizeof page)) {
        die_errno("flush lane: " + path);
    }
    std::memset(page, 'x', 1024);
    const std::int64_t t0 = now_ns();
    if (::pwrite(fd.get(), page, 1024, 1024) != 1024 || ::fdatasync(fd.get()) != 0) {
        die_errno("flush lane: " + path);
    }
    Login l;
    l.ns = now_ns() - t0;
    l.as_expected = true;
    return l;
}

std::string answer_for(const User& u, Scenario sc, StackId stack) {
    if (sc == Scenario::wrong) {
        return wrong_code(u.secret);
    }
    if (sc == Scenario::recovery && stack != permit) {
        return *u.scratch;
    }
    return totp_code(u.secret, std::time(nullptr));
}

struct Series {
    std::vector<std::int64_t> ns;
    std::vector<std::array<std::int64_t, phase_count>> phases;  // fresh-process model only
    std::vector<long> minflt;                                   // fresh-process model only
    std::vector<long long> cpu_us;                              // fresh-process model only
    unsigned unexpected = 0;
    std::int64_t wall_ns = 0;  // parallel runs: first start to last end
    unsigned procs = 1;
};

// The lanes (model and stack) take turns user by user, in an order shuffled
// for each user (with a fixed seed, so runs are comparable): each lane then
// follows each other one about equally often. A fixed cyclic order (even
// rotated) puts every stack always right after the same one, and whatever
// that one left for the disk to do (pam_oath rewrites its whole usersfile)
// lands on it. The two models have each their own copy of every module's
// files (bench/README.md), so a user logs in once per lane.
// `confdir_in`, `confdir_fr`: the stacks of each model (default: the main
// ones; the fleet pass has its own).
void run_scenario(const Population& pop, Scenario sc, const std::vector<Lane>& lanes,
                  const std::vector<std::size_t>& sample, FreshRunner* fresh, std::map<Lane, Series>& out,
                  const std::string& confdir_in = "", const std::string& confdir_fr = "") {
    const std::string& in_dir = confdir_in.empty() ? pop.confdir : confdir_in;
    const std::string& fresh_dir = confdir_fr.empty() ? pop.confdir_fresh : confdir_fr;
    std::mt19937 order_rng(20261128U + static_cast<unsigned>(sc));
    std::vector<Lane> order = lanes;
    for (const std::size_t k : sample) {
        const User& u = pop.users[k];
        std::shuffle(order.begin(), order.end(), order_rng);
        for (const Lane& lane : order) {
            const StackId s = lane.stack;
            const bool expect = sc != Scenario::wrong || s == permit;
            const std::string answer = answer_for(u, sc, s);
            Login l;
            if (s == flush) {
                l = flush_once(pop.root + "/flush/" + u.name);
            } else if (lane.model == Model::fresh) {
                if (fresh == nullptr) {
                    die("a fresh-process lane without bench_fresh");
                }
                l = fresh->login(fresh_dir, stack_names[s], u.name, answer, expect);
            } else {
                l = login(in_dir, stack_names[s], u.name, answer, expect);
            }
            Series& series = out[lane];
            series.ns.push_back(l.ns);
            if (lane.model == Model::fresh) {
                series.phases.push_back(l.phases);
                series.minflt.push_back(l.minflt);
                series.cpu_us.push_back(l.cpu_us);
            }
            series.unexpected += l.as_expected ? 0U : 1U;
        }
    }
}

std::vector<Lane> in_process_lanes(const std::vector<StackId>& stacks) {
    std::vector<Lane> out;
    for (const StackId s : stacks) {
        out.push_back(Lane{Model::in_process, s});
    }
    return out;
}

// Two processes at once, on disjoint users, one stack at a time; both
// start together on a pipe closing, and the wall time runs until both end.
Series run_parallel(const Population& pop, StackId stack, unsigned procs) {
    Series series;
    series.procs = procs;
    int go[2];
    if (::pipe2(go, O_CLOEXEC) != 0) {
        die_errno("pipe2");
    }
    std::vector<std::pair<pid_t, int>> kids;
    for (unsigned p = 0; p < procs; ++p) {
        int res[2];
        if (::pipe2(res, O_CLOEXEC) != 0) {
            die_errno("pipe2");
        }
        const pid_t pid = ::fork();
        if (pid < 0) {
            die_errno("fork");
        }
        if (pid == 0) {
            ::close(go[1]);
            ::close(res[0]);
            char c = 0;
            while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
                // EOF when the parent says go
            }
            std::vector<std::int64_t> ns;
            std::uint32_t unexpected = 0;
            for (std::size_t i = p; i < pop.parallel.size(); i += procs) {
                const User& u = pop.users[pop.parallel[i]];
                const Login l =
                    login(pop.confdir, stack_names[stack], u.name, totp_code(u.secret, std::time(nullptr)), true);
                ns.push_back(l.ns);
                unexpected += l.as_expected ? 0U : 1U;
            }
            const auto count = static_cast<std::uint32_t>(ns.size());
            const bool ok = write_all(res[1], &count, sizeof count) &&
                            write_all(res[1], &unexpected, sizeof unexpected) &&
                            write_all(res[1], ns.data(), ns.size() * sizeof(std::int64_t));
            ::_exit(ok ? 0 : 1);
        }
        ::close(res[1]);
        kids.emplace_back(pid, res[0]);
    }
    ::close(go[0]);
    const std::int64_t t0 = now_ns();
    ::close(go[1]);
    for (const auto& [pid, fd] : kids) {
        std::uint32_t count = 0;
        std::uint32_t unexpected = 0;
        if (!read_all(fd, &count, sizeof count) || !read_all(fd, &unexpected, sizeof unexpected)) {
            die("a parallel child died");
        }
        std::vector<std::int64_t> ns(count);
        if (!read_all(fd, ns.data(), ns.size() * sizeof(std::int64_t))) {
            die("a parallel child died");
        }
        series.ns.insert(series.ns.end(), ns.begin(), ns.end());
        series.unexpected += unexpected;
    }
    series.wall_ns = now_ns() - t0;
    for (const auto& [pid, fd] : kids) {
        ::close(fd);
        int status = 0;
        (void)::waitpid(pid, &status, 0);
    }
    return series;
}

struct Stats {
    double median = 0;
    double p90 = 0;
    double p99 = 0;
    double per_second = 0;
    double cpu_median = std::nan("");  // fresh-process model: the login process's CPU time, µs
    double cpu_mean = std::nan("");
};

Stats stats(const Series& s) {
    Stats st;
    if (s.ns.empty()) {
        return st;
    }
    std::vector<std::int64_t> v = s.ns;
    std::sort(v.begin(), v.end());
    const auto rank = [&v](double q) {  // nearest-rank percentile, in µs
        const auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
        return static_cast<double>(v[std::max<std::size_t>(idx, 1) - 1]) / 1000.0;
    };
    st.median = rank(0.5);
    st.p90 = rank(0.9);
    st.p99 = rank(0.99);
    double sum = 0;
    for (const std::int64_t x : v) {
        sum += static_cast<double>(x);
    }
    const double wall = s.wall_ns > 0 ? static_cast<double>(s.wall_ns) : sum;
    st.per_second = static_cast<double>(v.size()) / (wall / 1e9);
    if (!s.cpu_us.empty()) {
        std::vector<long long> c = s.cpu_us;
        std::sort(c.begin(), c.end());
        st.cpu_median = static_cast<double>(c[(c.size() - 1) / 2]);
        double csum = 0;
        for (const long long x : c) {
            csum += static_cast<double>(x);
        }
        st.cpu_mean = csum / static_cast<double>(c.size());
    }
    return st;
}

// The cost of one durable write on the work directory's file system, as a
// reference: a 200-byte file created, written, fsync'd, renamed over the old
// one, and the directory fsync'd.
double durable_write_us(const std::string& dir) {
    const std::string tmp = dir + "/dw.tmp";
    const std::string dst = dir + "/dw";
    const std::string text(200, 'x');
    const UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::vector<std::int64_t> v;
    for (int i = 0; i < 200; ++i) {
        const std::int64_t t0 = now_ns();
        {
            const UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
            if (!fd.valid() || !write_all(fd.get(), text.data(), text.size()) || ::fsync(fd.get()) != 0) {
                die_errno("durable write probe in " + dir);
            }
        }
        if (::rename(tmp.c_str(), dst.c_str()) != 0 || ::fsync(dfd.get()) != 0) {
            die_errno("durable write probe in " + dir);
        }
        v.push_back(now_ns() - t0);
    }
    (void)::unlink(dst.c_str());
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[v.size() / 2]) / 1000.0;
}

// The cost of one flush, as a reference: what pam_totp's durable write is
// (core/store/slot_file.h): one 1 KiB slot of a 2 KiB file rewritten in place
// with pwrite, then fdatasync; the two slots in turn.
double flush_us(const std::string& dir) {
    const std::string path = dir + "/flush";
    const UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    const std::string slot(1024, 'x');
    if (!fd.valid() || ::pwrite(fd.get(), slot.data(), slot.size(), 0) != 1024 ||
        ::pwrite(fd.get(), slot.data(), slot.size(), 1024) != 1024 || ::fsync(fd.get()) != 0) {
        die_errno("flush probe in " + dir);
    }
    std::vector<std::int64_t> v;
    for (int i = 0; i < 200; ++i) {
        const std::int64_t t0 = now_ns();
        if (::pwrite(fd.get(), slot.data(), slot.size(), (i % 2) * 1024) != 1024 || ::fdatasync(fd.get()) != 0) {
            die_errno("flush probe in " + dir);
        }
        v.push_back(now_ns() - t0);
    }
    (void)::unlink(path.c_str());
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[v.size() / 2]) / 1000.0;
}

// The median of one phase of a fresh-process series (µs), and of its page faults.
double phase_median_us(const Series& s, std::size_t phase) {
    std::vector<std::int64_t> v;
    for (const auto& p : s.phases) {
        v.push_back(p[phase]);
    }
    if (v.empty()) {
        return std::nan("");
    }
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[(v.size() - 1) / 2]) / 1000.0;
}

double minflt_median(const Series& s) {
    std::vector<long> v = s.minflt;
    if (v.empty()) {
        return std::nan("");
    }
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[(v.size() - 1) / 2]);
}

// Median microseconds that a new process pays to load `module` (dlopen
// RTLD_NOW, as libpam does at pam_start, then dlclose), measured by
// `probe` (bench/load_once.c), a C program that has libpam and libcrypt
// loaded as sshd has: a new connection's process pays this for each module
// of its stack, and this harness's own process (C++, liboath) hides it.
// `preload`: libraries put in the probe's process first (LD_PRELOAD), as
// those a real login process has loaded already.
double load_in_new_process_us(const std::string& probe, const std::string& module, unsigned runs,
                              const std::string& preload = "") {
    std::vector<double> v;
    for (unsigned i = 0; i < runs; ++i) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            die_errno("pipe2");
        }
        const pid_t pid = ::fork();
        if (pid < 0) {
            die_errno("fork");
        }
        if (pid == 0) {
            if (::dup2(fds[1], STDOUT_FILENO) < 0 ||
                (!preload.empty() && ::setenv("LD_PRELOAD", preload.c_str(), 1) != 0)) {
                ::_exit(127);
            }
            ::execl(probe.c_str(), probe.c_str(), module.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(fds[1]);
        std::string out;
        char buf[64];
        ssize_t n = 0;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
            if (n > 0) {
                out.append(buf, static_cast<std::size_t>(n));
            }
        }
        ::close(fds[0]);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty()) {
            die(probe + " " + module + " failed");
        }
        v.push_back(std::strtod(out.c_str(), nullptr));
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double getpwnam_us(const Population& pop) {
    std::vector<std::int64_t> v;
    for (const std::size_t k : pop.valid) {
        const std::int64_t t0 = now_ns();
        const passwd* pw = ::getpwnam(pop.users[k].name.c_str());
        v.push_back(now_ns() - t0);
        if (pw == nullptr) {
            die("getpwnam(" + pop.users[k].name + ") found nothing: is this the bench namespace?");
        }
    }
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[v.size() / 2]) / 1000.0;
}

std::string fmt(const char* f, double x) {
    char buf[64];
    (void)std::snprintf(buf, sizeof buf, f, x);
    return buf;
}

struct Row {
    unsigned users;
    std::string scenario;
    Lane lane;
    std::optional<Series> series;  // nullopt: not supported (n/a)
};

// pam_totp's first logins: one wrong code each (1 of deny=5), through
// `confdir`, in this process. It makes their state (u-NAME, t-TOKEN) in
// that stack's state_dir (or store), so that the timed logins are of users
// who have logged in before. A fleet stack must refuse the code
// (PAM_AUTH_ERR), not fail to reach its store (PAM_AUTHINFO_UNAVAIL).
Series first_logins(const Population& pop, const std::string& confdir, const std::vector<std::size_t>& users,
                    StackId stack = totp) {
    Series series;
    for (const std::size_t k : users) {
        const User& u = pop.users[k];
        const Login l = login(confdir, stack_names[stack], u.name, wrong_code(u.secret), false);
        series.ns.push_back(l.ns);
        series.unexpected += l.as_expected && (!is_fleet(stack) || l.rc == PAM_AUTH_ERR) ? 0U : 1U;
    }
    return series;
}

// --- The fleet rows (bench/README.md, "Fleet") ------------------------------

// What bench/fleet_store.py wrote to FLEET_DIR/info: where the cluster is.
struct FleetInfo {
    std::string pgdata;
    std::string socket_dir;
    std::string port;
    std::string psql;
};

FleetInfo read_fleet_info(const std::string& dir) {
    FleetInfo fi;
    FILE* f = std::fopen((dir + "/info").c_str(), "re");
    if (f == nullptr) {
        die_errno("read " + dir + "/info");
    }
    char line[4096];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        std::string text(line);
        while (!text.empty() && text.back() == '\n') {
            text.pop_back();
        }
        const std::size_t sp = text.find(' ');
        const std::string key = text.substr(0, sp);
        const std::string value = sp == std::string::npos ? "" : text.substr(sp + 1);
        if (key == "pgdata") {
            fi.pgdata = value;
        } else if (key == "socket_dir") {
            fi.socket_dir = value;
        } else if (key == "port") {
            fi.port = value;
        } else if (key == "psql") {
            fi.psql = value;
        }
    }
    (void)std::fclose(f);
    if (fi.pgdata.empty() || fi.socket_dir.empty() || fi.port.empty() || fi.psql.empty()) {
        die(dir + "/info: incomplete");
    }
    return fi;
}

// Runs argv and returns its standard output (nullopt when it fails).
std::optional<std::string> run_capture(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        die_errno("pipe2");
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        die_errno("fork");
    }
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (::dup2(fds[1], STDOUT_FILENO) < 0 || devnull < 0 || ::dup2(devnull, STDIN_FILENO) < 0 ||
            ::dup2(devnull, STDERR_FILENO) < 0) {
            ::_exit(127);
        }
        std::vector<char*> args;
        for (const std::string& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return std::nullopt;
    }
    return out;
}

// The server's side of a run, sampled before and after it: the CPU time of
// every PostgreSQL process (the postmaster, the backends it has reaped, and
// its live children: walwriter, checkpointer, ...), and its own counters:
// transactions committed in the database, WAL bytes written, WAL syncs.
struct ServerSample {
    double cpu_s = std::nan("");
    double commits = std::nan("");
    double wal_bytes = std::nan("");
    double wal_syncs = std::nan("");
};

// utime + stime (and with `children`, cutime + cstime) of a process, in
// clock ticks; `ppid` set to its parent. False when it is gone.
bool proc_times(const std::string& pid, bool children, long long& ticks, long long& ppid) {
    FILE* f = std::fopen(("/proc/" + pid + "/stat").c_str(), "re");
    if (f == nullptr) {
        return false;
    }
    char buf[1024];
    const std::size_t got = std::fread(buf, 1, sizeof buf - 1, f);
    (void)std::fclose(f);
    buf[got] = '\0';
    const char* p = std::strrchr(buf, ')');
    if (p == nullptr) {
        return false;
    }
    std::vector<long long> field;  // from field 3 (state) on: state is skipped as 0
    for (const char* q = p + 2; *q != '\0' && field.size() < 16;) {
        field.push_back(std::strtoll(q, nullptr, 10));
        q = std::strchr(q, ' ');
        if (q == nullptr) {
            break;
        }
        ++q;
    }
    if (field.size() < 15) {
        return false;
    }
    ppid = field[1];
    ticks = field[11] + field[12] + (children ? field[13] + field[14] : 0);
    return true;
}

ServerSample sample_server(const FleetInfo& fi, const std::string& db) {
    ServerSample s;
    FILE* f = std::fopen((fi.pgdata + "/postmaster.pid").c_str(), "re");
    long long pm = 0;
    if (f != nullptr) {
        if (std::fscanf(f, "%lld", &pm) != 1) {
            pm = 0;
        }
        (void)std::fclose(f);
    }
    long long total = 0;
    long long ppid = 0;
    if (pm > 0 && proc_times(std::to_string(pm), true, total, ppid)) {
        if (DIR* d = ::opendir("/proc"); d != nullptr) {
            while (const dirent* e = ::readdir(d)) {
                long long ticks = 0;
                if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && proc_times(e->d_name, false, ticks, ppid) &&
                    ppid == pm) {
                    total += ticks;
                }
            }
            ::closedir(d);
        }
        s.cpu_s = static_cast<double>(total) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    const auto out =
        run_capture({fi.psql, "-X", "-At", "-h", fi.socket_dir, "-p", fi.port, "-U", "postgres", "-d", db, "-c",
                     "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), "
                     "pg_current_wal_lsn() - '0/0'::pg_lsn, (SELECT wal_sync FROM pg_stat_wal)"});
    if (out) {
        double a = 0;
        double b = 0;
        double c = 0;
        if (std::sscanf(out->c_str(), "%lf|%lf|%lf", &a, &b, &c) == 3) {
            s.commits = a;
            s.wal_bytes = b;
            s.wal_syncs = c;
        }
    }
    return s;
}

// `procs` fresh-process login loops at once (each its own bench_fresh,
// started before the go), over disjoint shares of `users`; the wall time
// runs from the go until both have ended.
Series run_parallel_fresh(const Options& opt, const Population& pop, const std::string& confdir, StackId stack,
                          const std::vector<std::size_t>& users, unsigned procs) {
    Series series;
    series.procs = procs;
    int go[2];
    if (::pipe2(go, O_CLOEXEC) != 0) {
        die_errno("pipe2");
    }
    std::vector<std::pair<pid_t, int>> kids;
    for (unsigned p = 0; p < procs; ++p) {
        int res[2];
        if (::pipe2(res, O_CLOEXEC) != 0) {
            die_errno("pipe2");
        }
        const pid_t pid = ::fork();
        if (pid < 0) {
            die_errno("fork");
        }
        if (pid == 0) {
            ::close(go[1]);
            ::close(res[0]);
            std::vector<std::int64_t> ns;
            std::vector<std::int64_t> cpu;
            std::uint32_t unexpected = 0;
            {
                FreshRunner runner(opt.fresh);
                char c = 0;
                while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
                    // EOF when the parent says go
                }
                for (std::size_t i = p; i < users.size(); i += procs) {
                    const User& u = pop.users[users[i]];
                    const Login l = runner.login(confdir, stack_names[stack], u.name,
                                                 totp_code(u.secret, std::time(nullptr)), true);
                    ns.push_back(l.ns);
                    cpu.push_back(l.cpu_us);
                    unexpected += l.as_expected ? 0U : 1U;
                }
            }
            const auto count = static_cast<std::uint32_t>(ns.size());
            const bool ok = write_all(res[1], &count, sizeof count) &&
                            write_all(res[1], &unexpected, sizeof unexpected) &&
                            write_all(res[1], ns.data(), ns.size() * sizeof(std::int64_t)) &&
                            write_all(res[1], cpu.data(), cpu.size() * sizeof(std::int64_t));
            ::_exit(ok ? 0 : 1);
        }
        ::close(res[1]);
        kids.emplace_back(pid, res[0]);
    }
    ::close(go[0]);
    const std::int64_t t0 = now_ns();
    ::close(go[1]);
    for (const auto& [pid, fd] : kids) {
        std::uint32_t count = 0;
        std::uint32_t unexpected = 0;
        if (!read_all(fd, &count, sizeof count) || !read_all(fd, &unexpected, sizeof unexpected)) {
            die("a capacity child died");
        }
        std::vector<std::int64_t> ns(count);
        std::vector<std::int64_t> cpu(count);
        if (!read_all(fd, ns.data(), ns.size() * sizeof(std::int64_t)) ||
            !read_all(fd, cpu.data(), cpu.size() * sizeof(std::int64_t))) {
            die("a capacity child died");
        }
        series.ns.insert(series.ns.end(), ns.begin(), ns.end());
        series.cpu_us.insert(series.cpu_us.end(), cpu.begin(), cpu.end());
        series.unexpected += unexpected;
    }
    series.wall_ns = now_ns() - t0;
    for (const auto& [pid, fd] : kids) {
        ::close(fd);
        int status = 0;
        (void)::waitpid(pid, &status, 0);
    }
    return series;
}

// bench/pq_clock.c's output: label names, and per login the ns and calls of each.
struct PqClock {
    std::vector<std::string> names;
    std::vector<std::vector<long long>> ns;
    std::vector<std::vector<long long>> calls;
};

PqClock read_pq_clock(const std::string& path) {
    PqClock pq;
    FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) {
        return pq;
    }
    std::string line;
    for (int c = 0; (c = std::fgetc(f)) != EOF;) {
        if (c != '\n') {
            line += static_cast<char>(c);
            continue;
        }
        if (line.starts_with("# pq_clock")) {
            pq.names.clear();
            std::size_t at = line.find('\t');
            while (at != std::string::npos) {
                const std::size_t next = line.find('\t', at + 1);
                pq.names.push_back(line.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1));
                at = next;
            }
        } else if (!line.empty()) {
            std::vector<long long> v;
            const char* q = line.c_str();
            char* end = nullptr;
            for (long long x = std::strtoll(q, &end, 10); end != q; x = std::strtoll(q, &end, 10)) {
                v.push_back(x);
                q = end;
            }
            if (v.size() == 2 * pq.names.size()) {
                pq.ns.emplace_back(v.begin(), v.begin() + static_cast<long>(pq.names.size()));
                pq.calls.emplace_back(v.begin() + static_cast<long>(pq.names.size()), v.end());
            }
        }
        line.clear();
    }
    (void)std::fclose(f);
    return pq;
}

double median_of_values(std::vector<double> v) {
    if (v.empty()) {
        return std::nan("");
    }
    std::sort(v.begin(), v.end());
    return v[(v.size() - 1) / 2];
}

double mean_of_values(const std::vector<double>& v) {
    if (v.empty()) {
        return std::nan("");
    }
    double sum = 0;
    for (const double x : v) {
        sum += x;
    }
    return sum / static_cast<double>(v.size());
}

struct CapacityRun {
    StackId stack = totp;
    unsigned procs = 1;
    Series series;
    ServerSample before;
    ServerSample after;
};

// One transport's logins under pq_clock: bench_fresh's phases and the shim's labels, login by login.
struct ProfileRun {
    std::vector<Login> logins;
    std::vector<std::vector<long long>> ns;
    std::vector<std::vector<long long>> calls;
};

struct FleetResult {
    std::vector<CapacityRun> capacity;
    std::vector<std::string> labels;
    std::map<StackId, ProfileRun> profile;
};

// The fleet pass at one size: first logins (untimed), valid codes through
// pam_totp on the file store and on the PostgreSQL store (Unix socket,
// TCP+TLS) in both models, the shuffled lanes user by user; then the same
// fleet logins under pq_clock; then the capacity runs.
FleetResult fleet_pass(const Options& opt, const Population& pop, FreshRunner* fresh, std::vector<Row>& rows) {
    FleetResult result;
    const unsigned n = pop.n;
    const std::vector<StackId> stacks{totp, fleet_socket, fleet_tls};
    std::fprintf(stderr, "bench_logins: %u users: fleet: first logins\n", n);
    unsigned first_unexpected = 0;
    for (const StackId s : stacks) {
        first_unexpected += first_logins(pop, pop.confdir_fleet_in, pop.fleet, s).unexpected;
        if (fresh != nullptr) {
            first_unexpected += first_logins(pop, pop.confdir_fleet_fresh, pop.fleet, s).unexpected;
        }
    }
    if (fresh != nullptr) {
        for (const StackId s : {totp, fleet_socket}) {
            first_unexpected += first_logins(pop, pop.confdir_fleet_fresh, pop.capacity, s).unexpected;
        }
        if (!opt.pq_clock.empty()) {
            for (const StackId s : {fleet_socket, fleet_tls}) {
                first_unexpected += first_logins(pop, pop.confdir_fleet_profile, pop.profile, s).unexpected;
            }
        }
    }
    if (first_unexpected != 0) {
        die(std::to_string(first_unexpected) +
            " first logins of the fleet stacks went wrong (is the store reachable? see the syslog lines)");
    }

    std::fprintf(stderr, "bench_logins: %u users: fleet: valid codes (%zu users)\n", n, pop.fleet.size());
    std::vector<Lane> lanes;
    for (const StackId s : stacks) {
        lanes.push_back(Lane{Model::in_process, s});
    }
    if (fresh != nullptr) {
        for (const StackId s : stacks) {
            lanes.push_back(Lane{Model::fresh, s});
        }
    }
    std::map<Lane, Series> valid;
    run_scenario(pop, Scenario::valid, lanes, pop.fleet, fresh, valid, pop.confdir_fleet_in, pop.confdir_fleet_fresh);
    for (const Lane& lane : lanes) {
        rows.push_back(Row{n, "valid code, fleet pass", lane, valid[lane]});
    }
    if (fresh == nullptr) {
        return result;
    }

    if (!opt.pq_clock.empty() && !pop.profile.empty()) {
        std::fprintf(stderr, "bench_logins: %u users: fleet: where the time goes (%zu users)\n", n, pop.profile.size());
        const std::string out = opt.work + "/pq_clock-" + std::to_string(n) + ".txt";
        std::vector<StackId> order;
        {
            FreshRunner profiled(opt.fresh, opt.pq_clock, "PQ_CLOCK_OUT=" + out);
            std::mt19937 rng(20261201U);
            std::vector<StackId> pair{fleet_socket, fleet_tls};
            for (const std::size_t k : pop.profile) {
                const User& u = pop.users[k];
                std::shuffle(pair.begin(), pair.end(), rng);
                for (const StackId s : pair) {
                    result.profile[s].logins.push_back(profiled.login(pop.confdir_fleet_profile, stack_names[s], u.name,
                                                                      totp_code(u.secret, std::time(nullptr)), true));
                    order.push_back(s);
                }
            }
        }  // bench_fresh exits: pq_clock writes its file
        const PqClock pq = read_pq_clock(out);
        if (pq.ns.size() == order.size()) {
            result.labels = pq.names;
            for (std::size_t i = 0; i < order.size(); ++i) {
                result.profile[order[i]].ns.push_back(pq.ns[i]);
                result.profile[order[i]].calls.push_back(pq.calls[i]);
            }
        } else {
            std::fprintf(stderr, "bench_logins: pq_clock recorded %zu logins of %zu: no breakdown\n", pq.ns.size(),
                         order.size());
        }
    }

    if (!pop.capacity.empty()) {
        const FleetInfo fi = read_fleet_info(opt.fleet_dir);
        const std::size_t half = pop.capacity.size() / 2;
        const std::vector<std::size_t> one(pop.capacity.begin(), pop.capacity.begin() + static_cast<long>(half));
        const std::vector<std::size_t> two(pop.capacity.begin() + static_cast<long>(half), pop.capacity.end());
        for (const StackId s : {totp, fleet_socket}) {
            for (const unsigned procs : {1U, 2U}) {
                std::fprintf(stderr, "bench_logins: %u users: fleet: capacity, %s, %u process(es)\n", n, stack_names[s],
                             procs);
                CapacityRun run;
                run.stack = s;
                run.procs = procs;
                run.before = sample_server(fi, "fresh_socket");
                run.series = run_parallel_fresh(opt, pop, pop.confdir_fleet_fresh, s, procs == 1 ? one : two, procs);
                run.after = sample_server(fi, "fresh_socket");
                result.capacity.push_back(std::move(run));
            }
        }
    }
    return result;
}

// The fleet section of RESULTS.md for one size.
std::string fleet_markdown(unsigned n, const FleetResult& fr,
                           const std::map<std::tuple<unsigned, std::string, Lane>, Stats>& st_of,
                           double main_fresh_totp) {
    const auto name = [](StackId s) {
        return std::string(s == totp           ? "pam_totp, file store"
                           : s == fleet_socket ? "pam_totp, PostgreSQL store, Unix socket"
                                               : "pam_totp, PostgreSQL store, TCP+TLS (verify-full, SCRAM)");
    };
    const auto get = [&st_of, n](Model m, StackId s) -> const Stats* {
        const auto it = st_of.find({n, "valid code, fleet pass", Lane{m, s}});
        return it == st_of.end() ? nullptr : &it->second;
    };
    const auto cell = [](const char* f, double x) { return std::isnan(x) ? std::string("–") : fmt(f, x); };
    std::string md;
    md += "\n### " + std::to_string(n) + " users: valid codes\n\n";
    md +=
        "| store | in-process median µs | p90 µs | ÷ file store | fresh-process median µs | p90 µs | ÷ file store | "
        "÷ file store, main table | client CPU per fresh login, median µs |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const StackId s : {totp, fleet_socket, fleet_tls}) {
        md += "| " + name(s);
        for (const Model m : {Model::in_process, Model::fresh}) {
            const Stats* st = get(m, s);
            const Stats* file = get(m, totp);
            md += " | " + cell("%.0f", st != nullptr ? st->median : std::nan("")) + " | " +
                  cell("%.0f", st != nullptr ? st->p90 : std::nan("")) + " | " +
                  cell("%.1f", st != nullptr && file != nullptr ? st->median / file->median : std::nan(""));
        }
        const Stats* fr_st = get(Model::fresh, s);
        md += " | " + cell("%.1f", fr_st != nullptr ? fr_st->median / main_fresh_totp : std::nan("")) + " | " +
              cell("%.0f", fr_st != nullptr ? fr_st->cpu_median : std::nan("")) + " |\n";
    }
    md +=
        "\nThe file store's row is pam_totp in this pass, on a state_dir of its own, its logins taking turns with "
        "the fleet ones (and with what PostgreSQL does after each: a backend exiting, the WAL writer); \"main "
        "table\": the same stack's fresh-process median at " +
        std::to_string(n) + " users in the main pass above, " + cell("%.0f", main_fresh_totp) +
        " µs, among the other modules' logins.\n";

    if (!fr.capacity.empty()) {
        md += "\n### " + std::to_string(n) + " users: capacity (fresh-process login loops, distinct users)\n\n";
        md +=
            "| store | client processes | logins | logins/s | median µs | p90 µs | client CPU per login µs | "
            "server CPU per login µs | transactions per login | WAL bytes per login | WAL syncs per login |\n";
        md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for (const CapacityRun& run : fr.capacity) {
            const Stats st = stats(run.series);
            const double logins = static_cast<double>(run.series.ns.size());
            const bool pg = run.stack != totp;
            const auto per = [&](double a, double b, double scale) {
                return pg ? (b - a) * scale / logins : std::nan("");
            };
            std::string count = std::to_string(run.series.ns.size());
            if (run.series.unexpected != 0) {
                count += " (" + std::to_string(run.series.unexpected) + " unexpected)";
            }
            md += "| " + name(run.stack) + " | " + std::to_string(run.procs) + " | " + count + " | " +
                  fmt("%.0f", st.per_second) + " | " + fmt("%.0f", st.median) + " | " + fmt("%.0f", st.p90) + " | " +
                  cell("%.0f", st.cpu_mean) + " | " + cell("%.0f", per(run.before.cpu_s, run.after.cpu_s, 1e6)) +
                  " | " + cell("%.1f", per(run.before.commits, run.after.commits, 1)) + " | " +
                  cell("%.0f", per(run.before.wal_bytes, run.after.wal_bytes, 1)) + " | " +
                  cell("%.2f", per(run.before.wal_syncs, run.after.wal_syncs, 1)) + " |\n";
        }
        double one = std::nan("");
        double two = std::nan("");
        double file_two = std::nan("");
        for (const CapacityRun& run : fr.capacity) {
            const double ps = stats(run.series).per_second;
            if (run.stack == fleet_socket) {
                (run.procs == 1 ? one : two) = ps;
            } else if (run.procs == 2) {
                file_two = ps;
            }
        }
        md += "\nlogins/s: all logins ÷ the wall time from the go to the last login's end. 2 processes ÷ 1: " +
              cell("%.2f", two / one) + "; PostgreSQL ÷ file store, 2 processes: " + cell("%.2f", two / file_two) +
              ". Client CPU: the mean of the login processes' user + system time (wait4). Server CPU: every "
              "PostgreSQL process's user + system time over the run (the postmaster with the backends it reaped, "
              "and its live children), ÷ logins; transactions: pg_stat_database.xact_commit (every statement is "
              "one); WAL syncs: pg_stat_wal.wal_sync. The clients and the server share this machine's CPUs.\n";
    }

    if (!fr.labels.empty()) {
        md += "\n### " + std::to_string(n) + " users: where a fresh-process fleet login's time goes\n\n";
        md +=
            "bench/pq_clock.c preloaded into a bench_fresh of its own (these logins are not those of the tables "
            "above; a database pair of their own): each label's median over the logins where it occurs, and its "
            "mean over all logins (the means add up). A statement's time is one round trip: sent, run by the "
            "server (with its COMMIT: each is a transaction of its own), answered.\n\n";
        md +=
            "| part | calls per login (socket, TLS) | Unix socket: median µs | mean µs | TCP+TLS: median µs | mean µs "
            "|\n";
        md += "|---|---:|---:|---:|---:|---:|\n";
        std::string calls;  // the next row's calls per login
        const auto row = [&md, &cell, &calls](const std::string& label, double a, double b, double c, double d) {
            md += "| " + label + " | " + calls + " | " + cell("%.0f", a) + " | " + cell("%.0f", b) + " | " +
                  cell("%.0f", c) + " | " + cell("%.0f", d) + " |\n";
            calls.clear();
        };
        const auto phase = [&fr](StackId s, std::size_t p) {
            std::vector<double> v;
            const auto it = fr.profile.find(s);
            if (it != fr.profile.end()) {
                for (const Login& l : it->second.logins) {
                    v.push_back(p == phase_count ? static_cast<double>(l.ns) / 1e3
                                                 : static_cast<double>(l.phases[p]) / 1e3);
                }
            }
            return v;
        };
        const auto both = [&](const std::string& label, const std::function<std::vector<double>(StackId)>& values,
                              bool median_too) {
            const auto a = values(fleet_socket);
            const auto b = values(fleet_tls);
            row(label, median_too ? median_of_values(a) : std::nan(""), mean_of_values(a),
                median_too ? median_of_values(b) : std::nan(""), mean_of_values(b));
        };
        both(
            "**whole login** (fork to wait4)", [&](StackId s) { return phase(s, phase_count); }, true);
        both(
            "pam_start (loads pam_totp.so)", [&](StackId s) { return phase(s, start_phase); }, true);
        both(
            "**pam_authenticate**", [&](StackId s) { return phase(s, auth_phase); }, true);
        for (std::size_t li = 0; li < fr.labels.size(); ++li) {
            const auto where = [&fr, li](StackId s, bool all) {
                std::vector<double> v;
                const auto it = fr.profile.find(s);
                if (it != fr.profile.end()) {
                    for (std::size_t k = 0; k < it->second.ns.size(); ++k) {
                        if (all || it->second.calls[k][li] != 0) {
                            v.push_back(static_cast<double>(it->second.ns[k][li]) / 1e3);
                        }
                    }
                }
                return v;
            };
            const auto a_some = where(fleet_socket, false);
            const auto b_some = where(fleet_tls, false);
            if (a_some.empty() && b_some.empty()) {
                continue;
            }
            const auto calls_per_login = [&fr, li](StackId s) {
                const auto it = fr.profile.find(s);
                if (it == fr.profile.end() || it->second.calls.empty()) {
                    return std::nan("");
                }
                double sum = 0;
                for (const auto& c : it->second.calls) {
                    sum += static_cast<double>(c[li]);
                }
                return sum / static_cast<double>(it->second.calls.size());
            };
            calls = cell("%.2f", calls_per_login(fleet_socket)) + ", " + cell("%.2f", calls_per_login(fleet_tls));
            row("— " + fr.labels[li], median_of_values(a_some), mean_of_values(where(fleet_socket, true)),
                median_of_values(b_some), mean_of_values(where(fleet_tls, true)));
        }
        both(
            "— the rest of pam_authenticate (the module's own work: files, HMAC, log line)",
            [&](StackId s) {
                std::vector<double> v;
                const auto it = fr.profile.find(s);
                if (it != fr.profile.end()) {
                    for (std::size_t k = 0; k < it->second.logins.size() && k < it->second.ns.size(); ++k) {
                        double sum = 0;
                        for (const long long x : it->second.ns[k]) {
                            sum += static_cast<double>(x);
                        }
                        v.push_back((static_cast<double>(it->second.logins[k].phases[auth_phase]) - sum) / 1e3);
                    }
                }
                return v;
            },
            true);
        both(
            "pam_end and exit → wait4",
            [&](StackId s) {
                auto a = phase(s, end_phase);
                const auto b = phase(s, exit_phase);
                for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
                    a[i] += b[i];
                }
                return a;
            },
            true);
    }
    return md;
}

std::vector<unsigned> parse_sizes(const char* text) {
    std::vector<unsigned> out;
    std::string s(text);
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const std::size_t comma = std::min(s.find(',', pos), s.size());
        out.push_back(static_cast<unsigned>(std::strtoul(s.substr(pos, comma - pos).c_str(), nullptr, 10)));
        pos = comma + 1;
    }
    return out;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--module") {
            o.module = v;
        } else if (k == "--enroll") {
            o.enroll = v;
        } else if (k == "--work") {
            o.work = v;
        } else if (k == "--out") {
            o.out = v;
        } else if (k == "--log-fd") {
            o.log_fd = std::atoi(v);
        } else if (k == "--total") {
            o.total = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--users") {
            o.sizes = parse_sizes(v);
        } else if (k == "--sample") {
            o.sample = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--recovery") {
            o.recovery = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--only") {
            o.only = v;
        } else if (k == "--load-probe") {
            o.load_probe = v;
        } else if (k == "--fresh") {
            o.fresh = v;
        } else if (k == "--only-model") {
            o.only_fresh = std::string(v) == "fresh";
            if (!o.only_fresh && std::string(v) != "in-process") {
                die("--only-model: in-process or fresh");
            }
        } else if (k == "--pamdir") {
            o.pamdir = v;
        } else if (k == "--load-runs") {
            o.load_runs = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--parallel") {
            o.parallel = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--fleet-dir") {
            o.fleet_dir = v;
        } else if (k == "--fleet-users") {
            o.fleet_sizes = parse_sizes(v);
        } else if (k == "--fleet-sample") {
            o.fleet_sample = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--fleet-capacity") {
            o.fleet_capacity = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--fleet-profile") {
            o.fleet_profile = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        } else if (k == "--pq-clock") {
            o.pq_clock = v;
        } else if (k == "--sshd-libs") {
            o.sshd_libs = v;
        } else {
            die("unknown option " + k);
        }
    }
    if ((argc - 1) % 2 != 0 || o.module.empty() || o.module[0] != '/' || o.enroll.empty() || o.work.empty() ||
        o.out.empty()) {
        die("usage: bench_logins --module /ABS/pam_totp.so --enroll TOTP_ENROLL --work DIR --out FILE "
            "[--log-fd FD] [--total 10000] [--users 100,2000,10000] [--sample 1000] [--recovery 50] "
            "[--parallel 500] [--only STACK] [--fresh BENCH_FRESH] [--load-probe BENCH_LOAD_ONCE] "
            "[--pamdir DIR] [--load-runs 100] [--fleet-dir DIR [--fleet-users 2000] [--fleet-sample 200] "
            "[--fleet-capacity 400] [--fleet-profile 150] [--pq-clock PQ_CLOCK_SO] [--sshd-libs LIBS]]");
    }
    if (o.only_fresh && o.fresh.empty()) {
        die("--only-model fresh needs --fresh BENCH_FRESH");
    }
    for (const unsigned n : o.sizes) {
        if (n == 0 || n > o.total || o.total % n != 0) {
            die("--users: each size must divide --total (" + std::to_string(o.total) + ")");
        }
    }
    return o;
}

// Drains the syslog socket standing in for /dev/log (a machine without a
// syslog daemon would otherwise make syslog(3) fall back to the console),
// in a child so that reading it costs the timed logins nothing but a CPU's
// share. Ends with SIGTERM.
pid_t start_log_drain(int fd) {
    const pid_t pid = ::fork();
    if (pid < 0) {
        die_errno("fork");
    }
    if (pid == 0) {
        char buf[4096];
        for (;;) {
            if (::recv(fd, buf, sizeof buf, 0) < 0 && errno != EINTR) {
                ::_exit(0);
            }
        }
    }
    ::close(fd);
    return pid;
}

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse(argc, argv);
    if (::oath_init() != OATH_OK) {
        die("oath_init failed");
    }
    const pid_t drain = opt.log_fd >= 0 ? start_log_drain(opt.log_fd) : -1;
    // Started after the drain has taken the log socket, which it must not inherit.
    std::optional<FreshRunner> fresh_runner;
    if (!opt.fresh.empty()) {
        fresh_runner.emplace(opt.fresh);
    }
    FreshRunner* const fresh = fresh_runner ? &*fresh_runner : nullptr;

    const std::vector<StackId> stacks{permit, ga, oath, totp};
    const std::vector<Lane> in_lanes = in_process_lanes(stacks);
    std::vector<Lane> both = in_lanes;
    if (fresh != nullptr) {
        for (const StackId s : stacks) {
            both.push_back(Lane{Model::fresh, s});
        }
    }
    both.push_back(Lane{Model::in_process, flush});
    std::vector<Row> rows;
    std::map<unsigned, FleetResult> fleet_results;
    std::map<unsigned, double> pwnam;
    for (const unsigned n : opt.sizes) {
        std::fprintf(stderr, "bench_logins: %u users: provisioning\n", n);
        const Population pop = provision(opt, n);
        pwnam[n] = getpwnam_us(pop);
        if (!opt.only.empty()) {
            // For strace/callgrind/perf: nothing but valid-code logins through one stack.
            const auto* it = std::find(std::begin(stack_names), std::end(stack_names), opt.only);
            if (it == std::end(stack_names)) {
                die("--only: unknown stack " + opt.only);
            }
            const Lane lane{opt.only_fresh ? Model::fresh : Model::in_process,
                            static_cast<StackId>(it - std::begin(stack_names))};
            if (lane.stack == totp) {
                // As in the full run: the timed logins are of users who logged in before.
                (void)first_logins(pop, opt.only_fresh ? pop.confdir_fresh : pop.confdir, pop.valid);
            }
            std::map<Lane, Series> only;
            run_scenario(pop, Scenario::valid, {lane}, pop.valid, fresh, only);
            rows.push_back(Row{n, "valid code", lane, only[lane]});
            continue;
        }

        // pam_totp makes a user's state (u-NAME, t-TOKEN) at the first login;
        // a user who has logged in before has it. The measured logins are
        // those of users who have: each sample user first gives one wrong
        // code (untimed in the other rows; 1 of deny=5), shown as its own
        // row; likewise, untimed, in the fresh-process model's state_dir.
        std::fprintf(stderr, "bench_logins: %u users: pam_totp first logins\n", n);
        std::vector<std::size_t> everyone = pop.valid;
        everyone.insert(everyone.end(), pop.parallel.begin(), pop.parallel.end());
        const Series first = first_logins(pop, pop.confdir, everyone);
        unsigned fresh_first_unexpected = 0;
        if (fresh != nullptr) {
            fresh_first_unexpected = first_logins(pop, pop.confdir_fresh, pop.valid).unexpected;
        }
        std::fprintf(stderr, "bench_logins: %u users: valid codes (%zu users x %zu lanes)\n", n, pop.valid.size(),
                     both.size());
        std::map<Lane, Series> valid;
        run_scenario(pop, Scenario::valid, both, pop.valid, fresh, valid);
        std::fprintf(stderr, "bench_logins: %u users: wrong codes\n", n);
        std::map<Lane, Series> wrong;
        run_scenario(pop, Scenario::wrong, in_lanes, pop.valid, fresh, wrong);
        std::fprintf(stderr, "bench_logins: %u users: recovery codes (%zu users)\n", n, pop.recovery.size());
        std::map<Lane, Series> recovery;
        run_scenario(pop, Scenario::recovery, in_process_lanes({permit, ga, totp}), pop.recovery, fresh, recovery);
        std::map<StackId, Series> par;
        if (!pop.parallel.empty()) {
            std::fprintf(stderr, "bench_logins: %u users: 2 processes in parallel (%zu users)\n", n,
                         pop.parallel.size());
            for (const StackId s : stacks) {
                par[s] = run_parallel(pop, s, 2);
            }
        }
        for (const Lane& lane : both) {
            rows.push_back(Row{n, "valid code", lane, valid[lane]});
        }
        for (const Lane& lane : in_lanes) {
            rows.push_back(Row{n, "wrong code", lane, wrong[lane]});
        }
        for (const Lane& lane : in_lanes) {
            rows.push_back(Row{n, "recovery code", lane,
                               lane.stack == oath ? std::nullopt : std::optional<Series>(recovery[lane])});
        }
        for (const auto& [s, series] : par) {
            rows.push_back(Row{n, "valid, 2 processes", Lane{Model::in_process, s}, series});
        }
        rows.push_back(Row{n, "first login (no state yet), wrong code", Lane{Model::in_process, totp}, first});
        if (fresh_first_unexpected != 0) {
            die(std::to_string(fresh_first_unexpected) + " first logins of the fresh-process stacks went wrong");
        }
        if (fleet_at(opt, n)) {
            fleet_results[n] = fleet_pass(opt, pop, fresh, rows);
        }
    }
    const double quiet_flush = flush_us(opt.work);
    const double dw = durable_write_us(opt.work);
    std::vector<std::pair<StackId, double>> loads;
    if (!opt.load_probe.empty() && opt.only.empty()) {
        for (const StackId s : stacks) {
            const std::string path = s == totp ? opt.module : opt.pamdir + "/" + stack_names[s] + ".so";
            loads.emplace_back(s, load_in_new_process_us(opt.load_probe, path, opt.load_runs));
        }
    }
    // The fleet's backend, loaded by the module at each fleet login: alone,
    // and with the libraries sshd already has that libpq needs too.
    double backend_load = std::nan("");
    double backend_load_sshd = std::nan("");
    const std::string backend = opt.module.substr(0, opt.module.rfind('/') + 1) + "pam_totp_pgsql.so";
    if (!opt.load_probe.empty() && opt.only.empty() && !fleet_results.empty()) {
        backend_load = load_in_new_process_us(opt.load_probe, backend, opt.load_runs);
        if (!opt.sshd_libs.empty()) {
            backend_load_sshd = load_in_new_process_us(opt.load_probe, backend, opt.load_runs, opt.sshd_libs);
        }
    }

    // Statistics of every row, by (users, scenario, lane).
    using Key = std::tuple<unsigned, std::string, Lane>;
    std::map<Key, Stats> st_of;
    std::map<Key, const Series*> series_of;
    unsigned unexpected = 0;
    unsigned totp_unexpected = 0;  // the exit status: pam_totp must behave; the peers are measured as they are
    for (const Row& r : rows) {
        if (r.series && !r.series->ns.empty()) {
            st_of[{r.users, r.scenario, r.lane}] = stats(*r.series);
            series_of[{r.users, r.scenario, r.lane}] = &*r.series;
            unexpected += r.series->unexpected;
            totp_unexpected += r.lane.stack == totp || is_fleet(r.lane.stack) ? r.series->unexpected : 0U;
        }
    }
    const auto median_of = [&st_of](unsigned n, const std::string& sc, Lane lane) {
        const auto it = st_of.find({n, sc, lane});
        return it == st_of.end() ? std::nan("") : it->second.median;
    };
    const auto display = [](StackId s) {
        return std::string(s == permit         ? "pam_permit (floor)"
                           : s == fleet_socket ? "pam_totp, PostgreSQL store, Unix socket"
                           : s == fleet_tls    ? "pam_totp, PostgreSQL store, TCP+TLS"
                                               : stack_names[s]);
    };
    const auto ratio = [](double a, double b) { return std::isnan(a) || std::isnan(b) ? std::nan("") : a / b; };
    const auto cell = [](const char* f, double x) { return std::isnan(x) ? std::string("–") : fmt(f, x); };

    std::string md;
    // 1. Valid codes, the two models side by side.
    md += "## Valid codes, both models side by side\n\n";
    md +=
        "Same users, same run, the lanes (each stack in each model, and the flush) in a shuffled order for each user. ";
    md += fresh != nullptr
              ? "In-process: the login runs in the harness's long-lived process (each module's libraries "
                "stay loaded after its first login). Fresh-process: each login is a new process forked by "
                "a parent linked like sshd, which loads the stack's modules at `pam_start`.\n\n"
              : "**The fresh-process model was not measured** (no bench_fresh: `make bench` builds it).\n\n";
    md +=
        "The flush row is the reference the targets count in: one per user, in the same shuffled order, so on the "
        "same disk as the logins (the same figure in both columns).\n\n";
    md +=
        "| users | stack | in-process median µs | p90 µs | pam_totp ÷ this | fresh-process median µs | p90 µs | "
        "pam_totp ÷ this |\n";
    md += "|---:|---|---:|---:|---:|---:|---:|---:|\n";
    for (const unsigned n : opt.sizes) {
        for (const StackId s : stacks) {
            const auto it_in = st_of.find({n, "valid code", Lane{Model::in_process, s}});
            const auto it_fr = st_of.find({n, "valid code", Lane{Model::fresh, s}});
            if (it_in == st_of.end() && it_fr == st_of.end()) {
                continue;
            }
            md += "| " + std::to_string(n) + " | " + display(s);
            for (const Model m : {Model::in_process, Model::fresh}) {
                const auto it = m == Model::in_process ? it_in : it_fr;
                const bool have = it != st_of.end();
                md += " | " + cell("%.0f", have ? it->second.median : std::nan("")) + " | " +
                      cell("%.0f", have ? it->second.p90 : std::nan("")) + " | " +
                      cell("%.2f",
                           ratio(median_of(n, "valid code", Lane{m, totp}), have ? it->second.median : std::nan("")));
            }
            md += " |\n";
        }
        const auto it_flush = st_of.find({n, "valid code", Lane{Model::in_process, flush}});
        if (it_flush != st_of.end()) {
            md += "| " + std::to_string(n) + " | " + stack_names[flush] + ", same order | " +
                  fmt("%.0f", it_flush->second.median) + " | " + fmt("%.0f", it_flush->second.p90) + " | | " +
                  fmt("%.0f", it_flush->second.median) + " | " + fmt("%.0f", it_flush->second.p90) + " | |\n";
        }
    }

    // 2. Every row.
    md += "\n## Every scenario\n\n";
    md +=
        "| users | scenario | model | stack | logins | median µs | p90 µs | p99 µs | logins/s | pam_totp ÷ this "
        "(median) |\n";
    md += "|---:|---|---|---|---:|---:|---:|---:|---:|---:|\n";
    for (const Row& r : rows) {
        const std::string head = "| " + std::to_string(r.users) + " | " + r.scenario + " | " +
                                 (r.lane.stack == flush ? "reference" : model_names[static_cast<int>(r.lane.model)]) +
                                 " | " + display(r.lane.stack) + " | ";
        if (!r.series) {
            md += head + "n/a | n/a | n/a | n/a | n/a | n/a (no recovery codes) |\n";
            continue;
        }
        if (r.series->ns.empty()) {
            continue;  // an empty sample (a reduced run)
        }
        const Stats& st = st_of[{r.users, r.scenario, r.lane}];
        std::string count = std::to_string(r.series->ns.size());
        if (r.series->unexpected != 0) {
            count += " (" + std::to_string(r.series->unexpected) + " unexpected results)";
        }
        const double t = median_of(r.users, r.scenario, Lane{r.lane.model, totp});
        md += head + count + " | " + fmt("%.0f", st.median) + " | " + fmt("%.0f", st.p90) + " | " +
              fmt("%.0f", st.p99) + " | " + fmt("%.0f", st.per_second) + " | " +
              (r.lane.stack == totp ? std::string("1.00") : cell("%.2f", t / st.median)) + " |\n";
    }
    md +=
        "\nlogins/s: one process, logins ÷ the sum of their latencies; \"2 processes\": all logins of both ÷ "
        "the wall time. p99 of the recovery rows rests on few logins.\n";

    // 3. The fresh-process logins by phase.
    if (fresh != nullptr) {
        md += "\n## Fresh-process model: where the time goes\n\n";
        md +=
            "Valid codes; the median of each phase, in µs (bench/fresh.c stamps them; medians do not add up to "
            "the login's), and the child's minor page faults (wait4). pam_start reads the stack and loads its "
            "modules (dlopen) with their libraries; pam_end unloads them; exit → wait4 is the child's exit and "
            "teardown until the parent is woken.\n\n";
        md += "| users | stack | login |";
        for (const char* ph : phase_names) {
            md += std::string(" ") + ph + " |";
        }
        md += " page faults |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
        for (const unsigned n : opt.sizes) {
            std::array<double, phase_count + 2> permit_row{};
            std::array<double, phase_count + 2> totp_row{};
            bool any = false;
            for (const StackId s : stacks) {
                const auto it = series_of.find({n, "valid code", Lane{Model::fresh, s}});
                if (it == series_of.end()) {
                    continue;
                }
                any = true;
                std::array<double, phase_count + 2> row{};
                row[0] = st_of[{n, "valid code", Lane{Model::fresh, s}}].median;
                for (std::size_t p = 0; p < phase_count; ++p) {
                    row[p + 1] = phase_median_us(*it->second, p);
                }
                row[phase_count + 1] = minflt_median(*it->second);
                if (s == permit) {
                    permit_row = row;
                } else if (s == totp) {
                    totp_row = row;
                }
                md += "| " + std::to_string(n) + " | " + display(s) + " |";
                for (std::size_t c = 0; c < row.size(); ++c) {
                    md += " " + cell("%.0f", row[c]) + " |";
                }
                md += "\n";
            }
            if (any && totp_row[0] > 0 && permit_row[0] > 0) {
                md += "| " + std::to_string(n) + " | pam_totp − pam_permit |";
                for (std::size_t c = 0; c < totp_row.size(); ++c) {
                    md += " " + cell("%+.0f", totp_row[c] - permit_row[c]) + " |";
                }
                md += "\n";
            }
        }
    }

    // 3b. The fleet.
    if (!fleet_results.empty()) {
        md += "\n## Fleet: pam_totp on the PostgreSQL store (issue 15)\n\n";
        md +=
            "A throwaway PostgreSQL 15 cluster on this machine (bench/fleet_store.py: fsync on, synchronous_commit "
            "on, no standby, its data directory on the same disk as the state files), one database per store, "
            "reached as a least-privilege role with a SCRAM password over the Unix socket, or over TCP to "
            "127.0.0.1 with TLS (sslmode=verify-full, a test CA). Each fleet login connects, runs its statements "
            "and disconnects; in a new process it also loads the backend (pam_totp_pgsql.so and libpq's "
            "libraries). Same users, same 30-second step for every lane, in a shuffled order per user; each lane on "
            "a store of its own.\n";
        for (const auto& [n, fr] : fleet_results) {
            md += fleet_markdown(n, fr, st_of, median_of(n, "valid code", Lane{Model::fresh, totp}));
        }
    }

    // 4. Reference points.
    md += "\n## Reference points measured in the same run\n\n";
    md +=
        "- one flush after the logins (the same 1 KiB slot of one file rewritten 200 times, each followed by "
        "fdatasync): median " +
        fmt("%.0f", quiet_flush) +
        " µs; the flush lane above, one per user among the logins, is the figure the "
        "targets use\n";
    md +=
        "- one durable write by replacement (create, write 200 bytes, fsync, rename, fsync the directory; "
        "google-authenticator does all but the directory fsync): median " +
        fmt("%.0f", dw) + " µs\n";
    if (!loads.empty()) {
        md +=
            "- loading the module in a new process (bench_load_once: dlopen RTLD_NOW + dlclose, as at pam_start in a "
            "new sshd, login or sudo process that has libpam and libcrypt loaded; " +
            std::to_string(opt.load_runs) + " processes each), median:";
        for (std::size_t i = 0; i < loads.size(); ++i) {
            md += std::string(i == 0 ? " " : ", ") + stack_names[loads[i].first] + " " + fmt("%.0f", loads[i].second) +
                  " µs";
        }
        md += ". The fresh-process logins above include it; the in-process ones pay it once.\n";
    }
    if (!std::isnan(backend_load)) {
        md += "- loading the PostgreSQL backend in a new process (bench_load_once " + backend +
              ": pam_totp_pgsql.so, libpq and the libraries libpq needs), median: " + fmt("%.0f", backend_load) + " µs";
        if (!std::isnan(backend_load_sshd)) {
            md += "; " + fmt("%.0f", backend_load_sshd) + " µs in a process that has loaded what sshd links of them (" +
                  opt.sshd_libs + ")";
        }
        md += ". Every fresh-process fleet login pays it (in pam_authenticate, when the store is opened).\n";
    }
    for (const auto& [n, us] : pwnam) {
        md += "- getpwnam() of a bench user, " + std::to_string(n) + "-user sample, /etc/passwd of " +
              std::to_string(opt.total) + " bench users: median " + fmt("%.0f", us) + " µs\n";
    }

    // 5. The targets, checked (medians of valid-code logins).
    md += "\n## Targets (issue 14)\n\n";
    const auto check = [&md](const std::string& what, double value, double limit) {
        if (std::isnan(value)) {
            return;
        }
        md += "- " + what + ": " + fmt("%.2f", value) + " (target ≤ " + fmt("%.2f", limit) + ") " +
              (value <= limit ? "**met**" : "**missed**") + "\n";
    };
    const auto valid_median = [&median_of](Model m, StackId s, unsigned n) {
        return median_of(n, "valid code", Lane{m, s});
    };
    const unsigned mid = 2000;
    check("fresh-process: pam_totp ÷ google-authenticator at 2,000 users",
          ratio(valid_median(Model::fresh, totp, mid), valid_median(Model::fresh, ga, mid)), 0.8);
    check("fresh-process: pam_totp ÷ pam_oath at 2,000 users",
          ratio(valid_median(Model::fresh, totp, mid), valid_median(Model::fresh, oath, mid)), 0.5);
    check("in-process: pam_totp ÷ google-authenticator at 2,000 users",
          ratio(valid_median(Model::in_process, totp, mid), valid_median(Model::in_process, ga, mid)), 0.8);
    const double lane_flush = valid_median(Model::in_process, flush, mid);
    for (const Model m : {Model::in_process, Model::fresh}) {
        const double above = valid_median(m, totp, mid) - valid_median(m, permit, mid);
        if (!std::isnan(above) && !std::isnan(lane_flush)) {
            check(std::string(model_names[static_cast<int>(m)]) +
                      ": pam_totp above pam_permit at 2,000 users, in flushes (" + fmt("%.0f", above) + " µs ÷ " +
                      fmt("%.0f", lane_flush) + " µs, the flush lane's median; about one: counted met up to 1.5)",
                  above / lane_flush, 1.5);
        }
    }
    for (const Model m : {Model::in_process, Model::fresh}) {
        check(std::string(model_names[static_cast<int>(m)]) + ": pam_totp median at 10,000 users ÷ at 100 users",
              ratio(valid_median(m, totp, 10000), valid_median(m, totp, 100)), 1.1);
    }
    double load_totp = std::nan("");
    double load_oath = std::nan("");
    for (const auto& [s, us] : loads) {
        load_totp = s == totp ? us : load_totp;
        load_oath = s == oath ? us : load_oath;
    }
    check("module load in a new process: pam_totp ÷ pam_oath (" + cell("%.0f", load_totp) + " µs ÷ " +
              cell("%.0f", load_oath) + " µs)",
          ratio(load_totp, load_oath), 2.0);
    if (unexpected != 0) {
        md += "\n**" + std::to_string(unexpected) +
              " logins ended otherwise than expected** (see the table; pam_oath refuses a login while another"
              " holds its usersfile lock, users.oath.lock made with O_EXCL and no retry).\n";
    }

    FILE* f = std::fopen(opt.out.c_str(), "w");
    if (f == nullptr || std::fputs(md.c_str(), f) < 0 || std::fclose(f) != 0) {
        die_errno("write " + opt.out);
    }
    std::fputs(md.c_str(), stdout);
    fresh_runner.reset();
    if (drain > 0) {
        ::kill(drain, SIGTERM);
        (void)::waitpid(drain, nullptr, 0);
    }
    return totp_unexpected == 0 ? 0 : 1;
}
