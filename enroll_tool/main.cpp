// totp-enroll: sets up pam_totp for a user. See totp-enroll(1).
#include <exception>
#include <new>

#include "cli_options.h"
#include "commands.h"
#include "console.h"

namespace {

int run(int argc, char** argv) {
    auto opts = totp_enroll::parse_cli(argc, argv);
    if (!opts) {
        totp_enroll::err("totp-enroll: " + opts.error().message + "\n");
        return totp_enroll::exit_usage;
    }
    const auto& o = opts.value();
    if (o.mode == totp_enroll::Mode::help) {
        totp_enroll::out(totp_enroll::usage_text());
        return totp_enroll::exit_done;
    }
    if (o.mode == totp_enroll::Mode::version) {
        totp_enroll::out("totp-enroll (pam_totp) 0.1.0\n");
        return totp_enroll::exit_done;
    }
    auto target = totp_enroll::resolve_target(o);
    if (!target) {
        totp_enroll::err("totp-enroll: " + target.error().message + "\n");
        return target.error().code == pam_totp::Errc::invalid_argument ? totp_enroll::exit_usage
                                                                       : totp_enroll::exit_not_done;
    }
    switch (o.mode) {
        case totp_enroll::Mode::status:
            return totp_enroll::run_status(o, target.value());
        case totp_enroll::Mode::new_recovery_codes:
            return totp_enroll::run_new_recovery_codes(o, target.value());
        case totp_enroll::Mode::remove:
            return totp_enroll::run_remove(o, target.value());
        case totp_enroll::Mode::import_ga:
            return totp_enroll::run_import(o, target.value());
        case totp_enroll::Mode::import_pam_oath:
            return totp_enroll::run_import_pam_oath(o, target.value());
        case totp_enroll::Mode::add:
            return totp_enroll::run_add(o, target.value());
        case totp_enroll::Mode::list:
            return totp_enroll::run_list(o, target.value());
        case totp_enroll::Mode::resync:
            return totp_enroll::run_resync(o, target.value());
        case totp_enroll::Mode::enroll:
        case totp_enroll::Mode::help:
        case totp_enroll::Mode::version:
            break;
    }
    return totp_enroll::run_enroll(o, target.value());
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc&) {
        totp_enroll::err("totp-enroll: out of memory; nothing was written\n");
    } catch (const std::exception& e) {
        totp_enroll::err(std::string("totp-enroll: internal error (") + e.what() + "); nothing was written\n");
    }
    return totp_enroll::exit_not_done;
}
