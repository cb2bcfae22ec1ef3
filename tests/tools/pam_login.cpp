// pam_login CONFDIR SERVICE USER: one login through the real libpam with a
// private service directory (pam_start_confdir), answering the prompts from
// standard input, one line each. Prints every prompt and message, then the
// result; exits 0 when pam_authenticate succeeded, 1 when it did not, 2 on
// a usage or setup error. Used by the CLI tests and by `make demo`.
#include <security/pam_appl.h>
#include <string.h>  // explicit_bzero
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Reads one line from standard input into a malloc'd string (libpam frees
// conversation replies); nullptr at end of input.
char* read_line() {
    std::string line;
    for (;;) {
        char c = 0;
        const ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n <= 0) {
            if (line.empty()) {
                return nullptr;
            }
            break;
        }
        if (c == '\n') {
            break;
        }
        line.push_back(c);
    }
    char* out = ::strdup(line.c_str());
    ::explicit_bzero(line.data(), line.size());
    return out;
}

int converse(int n, const struct pam_message** msgs, struct pam_response** resp, void* /*data*/) {
    if (n <= 0 || n > PAM_MAX_NUM_MSG) {
        return PAM_CONV_ERR;
    }
    auto* replies = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
    if (replies == nullptr) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < n; ++i) {
        const pam_message* m = msgs[i];
        switch (m->msg_style) {
            case PAM_PROMPT_ECHO_OFF:
            case PAM_PROMPT_ECHO_ON:
                std::printf("%s", m->msg);
                std::fflush(stdout);
                replies[i].resp = read_line();
                if (replies[i].resp == nullptr) {
                    for (int j = 0; j < i; ++j) {
                        std::free(replies[j].resp);
                    }
                    std::free(replies);
                    return PAM_CONV_ERR;
                }
                if (::isatty(STDIN_FILENO) != 1) {
                    std::printf("\n");
                }
                break;
            case PAM_ERROR_MSG:
            case PAM_TEXT_INFO:
                std::printf("%s\n", m->msg);
                break;
            default:
                break;
        }
    }
    *resp = replies;
    return PAM_SUCCESS;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: pam_login CONFDIR SERVICE USER\n");
        return 2;
    }
    const pam_conv conv{converse, nullptr};
    pam_handle_t* pamh = nullptr;
    int rc = ::pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
    if (rc != PAM_SUCCESS) {
        std::fprintf(stderr, "pam_login: pam_start_confdir: %s\n", ::pam_strerror(pamh, rc));
        return 2;
    }
    rc = ::pam_authenticate(pamh, 0);
    std::printf("PAM result: %s\n", ::pam_strerror(pamh, rc));
    ::pam_end(pamh, rc);
    return rc == PAM_SUCCESS ? 0 : 1;
}
