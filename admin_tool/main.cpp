// totp-admin: the administrator's command (totp-admin(8)).
#include <unistd.h>

#include <exception>
#include <new>
#include <string>

#include "admin_tool/cli_options.h"
#include "admin_tool/inspect.h"
#include "admin_tool/migrate.h"
#include "admin_tool/reset.h"
#include "admin_tool/store_admin.h"
#include "core/util/write_all.h"

namespace {

int run(int argc, char** argv) {
    auto opts = totp_admin::parse_cli(argc, argv);
    if (!opts) {
        (void)pam_totp::write_all(STDERR_FILENO, "totp-admin: " + opts.error().message + "\n");
        return totp_admin::exit_usage;
    }
    switch (opts.value().mode) {
        case totp_admin::Mode::list:
            return totp_admin::run_list(opts.value());
        case totp_admin::Mode::show:
            return totp_admin::run_show(opts.value());
        case totp_admin::Mode::init_store:
            return totp_admin::run_init_store(opts.value());
        case totp_admin::Mode::migrate_to_store:
            return totp_admin::run_migrate_to_store(opts.value());
        case totp_admin::Mode::reset:
            return totp_admin::run_reset(opts.value());
        case totp_admin::Mode::version:
            (void)pam_totp::write_all(STDOUT_FILENO, "totp-admin (pam_totp) 0.2.0\n");
            return totp_admin::exit_done;
        case totp_admin::Mode::help:
            break;
    }
    (void)pam_totp::write_all(STDOUT_FILENO, totp_admin::usage_text());
    return totp_admin::exit_done;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc&) {
        (void)pam_totp::write_all(STDERR_FILENO, "totp-admin: out of memory\n");
    } catch (const std::exception& e) {
        (void)pam_totp::write_all(STDERR_FILENO, std::string("totp-admin: internal error (") + e.what() + ")\n");
    }
    return totp_admin::exit_not_done;
}
