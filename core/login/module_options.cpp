#include "core/login/module_options.h"

#include <array>
#include <string_view>

#include "core/files/kv_format.h"
#include "core/otp/totp.h"

namespace pam_totp {
namespace {

// Every option the module knows; each may be given once.
enum class Opt {
    secret,
    state_dir,
    nullok,
    window,
    deny,
    fail_interval,
    unlock_time,
    max_unlock_time,
    prompt,
    echo_code,
    try_first_pass,
    use_first_pass,
    forward_pass,
    no_recovery,
    debug,
    count_
};

struct OptSpec {
    std::string_view name;
    bool takes_value;
};

constexpr std::array<OptSpec, static_cast<std::size_t>(Opt::count_)> specs{{
    {"secret", true},
    {"state_dir", true},
    {"nullok", false},
    {"window", true},
    {"deny", true},
    {"fail_interval", true},
    {"unlock_time", true},
    {"max_unlock_time", true},
    {"prompt", true},
    {"echo_code", false},
    {"try_first_pass", false},
    {"use_first_pass", false},
    {"forward_pass", false},
    {"no_recovery", false},
    {"debug", false},
}};

Error bad(std::string_view name, std::string_view problem) {
    return make_error(Errc::invalid_argument, "option " + std::string(name) + ": " + std::string(problem));
}

Result<std::uint64_t> number(std::string_view name, std::string_view value, std::uint64_t min, std::uint64_t max) {
    auto n = parse_decimal(value, max);
    if (!n) {
        return bad(name, n.error().message + " (allowed: " + std::to_string(min) + ".." + std::to_string(max) + ")");
    }
    if (n.value() < min) {
        return bad(name, "out of range (allowed: " + std::to_string(min) + ".." + std::to_string(max) + ")");
    }
    return n.value();
}

bool printable(std::string_view text) noexcept {
    for (const char c : text) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

Result<std::string> absolute_path(std::string_view name, std::string_view value) {
    if (value.empty() || !printable(value)) {
        return bad(name, "must be a non-empty path of printable characters");
    }
    if (value.size() > 4096) {
        return bad(name, "path too long");
    }
    return std::string(value);
}

}  // namespace

Result<ModuleOptions> parse_module_options(int argc, const char* const* argv) {
    ModuleOptions opts;
    std::array<bool, specs.size()> seen{};
    for (int i = 0; i < argc; ++i) {
        if (argv == nullptr || argv[i] == nullptr) {
            return make_error(Errc::invalid_argument, "option list is malformed");
        }
        const std::string_view arg(argv[i]);
        const auto eq = arg.find('=');
        const std::string_view name = arg.substr(0, eq);
        const bool has_value = eq != std::string_view::npos;
        const std::string_view value = has_value ? arg.substr(eq + 1) : std::string_view{};

        std::size_t idx = 0;
        while (idx < specs.size() && specs[idx].name != name) {
            ++idx;
        }
        if (idx == specs.size()) {
            // Never echo an unknown argument whole: an admin may have pasted a secret.
            return make_error(Errc::invalid_argument,
                              "unknown option '" + std::string(name.substr(0, 32)) + "'; see pam_totp(8)");
        }
        if (specs[idx].takes_value != has_value) {
            return bad(name,
                       specs[idx].takes_value ? "needs a value (" + std::string(name) + "=...)" : "takes no value");
        }
        if (seen[idx]) {
            return bad(name, "given twice");
        }
        seen[idx] = true;

        switch (static_cast<Opt>(idx)) {
            case Opt::secret: {
                if (value.empty() || !printable(value) || value.size() > 4096) {
                    return bad(name, "must be a non-empty path template of printable characters");
                }
                opts.secret = std::string(value);
                break;
            }
            case Opt::state_dir: {
                auto p = absolute_path(name, value);
                if (!p) {
                    return p.error();
                }
                if (p.value().front() != '/') {
                    return bad(name, "must be an absolute path");
                }
                opts.state_dir = std::move(p).value();
                break;
            }
            case Opt::window: {
                auto n = number(name, value, 0, max_window);
                if (!n) {
                    return n.error();
                }
                opts.window = static_cast<unsigned>(n.value());
                break;
            }
            case Opt::deny: {
                auto n = number(name, value, 1, max_deny);
                if (!n) {
                    return n.error();
                }
                opts.rate.deny = static_cast<unsigned>(n.value());
                break;
            }
            case Opt::fail_interval:
            case Opt::unlock_time:
            case Opt::max_unlock_time: {
                auto n = number(name, value, 1, static_cast<std::uint64_t>(max_seconds_option));
                if (!n) {
                    return n.error();
                }
                const auto secs = static_cast<std::time_t>(n.value());
                if (static_cast<Opt>(idx) == Opt::fail_interval) {
                    opts.rate.fail_interval = secs;
                } else if (static_cast<Opt>(idx) == Opt::unlock_time) {
                    opts.rate.unlock_time = secs;
                } else {
                    opts.rate.max_unlock_time = secs;
                }
                break;
            }
            case Opt::prompt: {
                if (value.empty() || value.size() > max_prompt_length || !printable(value)) {
                    return bad(name, "must be 1 to 256 printable characters (use [prompt=Text with spaces: ])");
                }
                opts.prompt = std::string(value);
                break;
            }
            case Opt::nullok:
                opts.nullok = true;
                break;
            case Opt::echo_code:
                opts.echo_code = true;
                break;
            case Opt::try_first_pass:
            case Opt::use_first_pass: {
                if (opts.first_pass != FirstPass::none) {
                    return bad(name, "try_first_pass and use_first_pass exclude each other");
                }
                opts.first_pass = static_cast<Opt>(idx) == Opt::use_first_pass ? FirstPass::use : FirstPass::try_;
                break;
            }
            case Opt::forward_pass:
                opts.forward_pass = true;
                break;
            case Opt::no_recovery:
                opts.no_recovery = true;
                break;
            case Opt::debug:
                opts.debug = true;
                break;
            case Opt::count_:
                break;
        }
    }
    // Checked after all options, whatever their order on the line.
    if (opts.rate.max_unlock_time < opts.rate.unlock_time) {
        return make_error(Errc::invalid_argument, "option max_unlock_time: must be at least unlock_time");
    }
    return opts;
}

}  // namespace pam_totp
