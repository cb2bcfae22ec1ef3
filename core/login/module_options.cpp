#include "core/login/module_options.h"

#include <array>
#include <string_view>

#include "core/files/kv_format.h"
#include "core/login/grace.h"
#include "core/otp/hotp.h"
#include "core/otp/totp.h"
#include "core/util/text.h"

namespace pam_totp {
namespace {

Error bad(std::string_view name, std::string_view problem) {
    return make_error(Errc::invalid_argument, "option " + std::string(name) + ": " + std::string(problem));
}

Result<std::uint64_t> number(std::string_view name, std::string_view value, std::uint64_t min, std::uint64_t max) {
    const std::string allowed = " (allowed: " + std::to_string(min) + ".." + std::to_string(max) + ")";
    auto n = parse_decimal(value, max);
    if (!n) {
        return bad(name, n.error().message + allowed);
    }
    if (n.value() < min) {
        return bad(name, "out of range" + allowed);
    }
    return n.value();
}

Result<std::time_t> seconds(std::string_view name, std::string_view value) {
    auto n = number(name, value, 1, static_cast<std::uint64_t>(max_seconds_option));
    if (!n) {
        return n.error();
    }
    return static_cast<std::time_t>(n.value());
}

Result<std::string> path(std::string_view name, std::string_view value, bool absolute) {
    if (value.empty() || value.size() > max_path_option || !printable_ascii(value)) {
        return bad(name, "must be a non-empty path of printable characters, at most 4096");
    }
    if (absolute && value.front() != '/') {
        return bad(name, "must be an absolute path");
    }
    return std::string(value);
}

// How one option applies its value (empty for a flag) to the options.
using Apply = Status (*)(ModuleOptions&, std::string_view name, std::string_view value);

template <bool ModuleOptions::*Flag>
Status set_flag(ModuleOptions& o, std::string_view /*name*/, std::string_view /*value*/) {
    o.*Flag = true;
    return {};
}

template <std::time_t RateLimitConfig::*Field>
Status set_seconds(ModuleOptions& o, std::string_view name, std::string_view value) {
    auto s = seconds(name, value);
    if (!s) {
        return s.error();
    }
    o.rate.*Field = s.value();
    return {};
}

Status set_first_pass(ModuleOptions& o, std::string_view name, FirstPass mode) {
    if (o.first_pass != FirstPass::none) {
        return bad(name, "try_first_pass and use_first_pass exclude each other");
    }
    o.first_pass = mode;
    return {};
}

struct OptionSpec {
    std::string_view name;
    bool takes_value;
    Apply apply;
};

// Every option, once: its name, whether it takes a value, and what it does.
constexpr std::array<OptionSpec, 21> options{{
    {"secret", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto p = path(n, v, false);
         if (!p) {
             return p.error();
         }
         o.secret = std::move(p).value();
         return {};
     }},
    {"state_dir", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto p = path(n, v, true);
         if (!p) {
             return p.error();
         }
         o.state_dir = std::move(p).value();
         return {};
     }},
    {"store", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         const auto kind = parse_store_kind(v);
         if (!kind) {
             return bad(n, "must be file or postgresql");
         }
         o.store = *kind;
         return {};
     }},
    {"helper", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto p = path(n, v, true);
         if (!p) {
             return p.error();
         }
         o.helper = std::move(p).value();
         return {};
     }},
    {"store_config", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto p = path(n, v, true);
         if (!p) {
             return p.error();
         }
         o.store_config = std::move(p).value();
         return {};
     }},
    {"nullok", false, set_flag<&ModuleOptions::nullok>},
    {"window", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto w = number(n, v, 0, max_window);
         if (!w) {
             return w.error();
         }
         o.window = static_cast<unsigned>(w.value());
         return {};
     }},
    {"hotp_window", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto w = number(n, v, 0, max_hotp_window);
         if (!w) {
             return w.error();
         }
         o.hotp_window = static_cast<unsigned>(w.value());
         return {};
     }},
    {"deny", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto d = number(n, v, 1, max_deny);
         if (!d) {
             return d.error();
         }
         o.rate.deny = static_cast<unsigned>(d.value());
         return {};
     }},
    {"fail_interval", true, set_seconds<&RateLimitConfig::fail_interval>},
    {"grace_period", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         auto g = number(n, v, 0, static_cast<std::uint64_t>(max_grace_period));
         if (!g) {
             return g.error();
         }
         o.grace_period = static_cast<long>(g.value());
         return {};
     }},
    {"unlock_time", true, set_seconds<&RateLimitConfig::unlock_time>},
    {"max_unlock_time", true, set_seconds<&RateLimitConfig::max_unlock_time>},
    {"prompt", true,
     [](ModuleOptions& o, std::string_view n, std::string_view v) -> Status {
         if (v.empty() || v.size() > max_prompt_length || !printable_ascii(v)) {
             return bad(n, "must be 1 to 256 printable characters (use [prompt=Text with spaces: ])");
         }
         o.prompt = std::string(v);
         return {};
     }},
    {"echo_code", false, set_flag<&ModuleOptions::echo_code>},
    {"try_first_pass", false,
     [](ModuleOptions& o, std::string_view n, std::string_view) { return set_first_pass(o, n, FirstPass::try_); }},
    {"use_first_pass", false,
     [](ModuleOptions& o, std::string_view n, std::string_view) { return set_first_pass(o, n, FirstPass::use); }},
    {"forward_pass", false, set_flag<&ModuleOptions::forward_pass>},
    {"defer", false, set_flag<&ModuleOptions::defer>},
    {"no_recovery", false, set_flag<&ModuleOptions::no_recovery>},
    {"debug", false, set_flag<&ModuleOptions::debug>},
}};

// An unknown argument is named in the log only when it looks like an
// option name (a-z and _, short): anything else may be a pasted secret.
Error unknown(std::string_view name, int position) {
    const bool option_like = !name.empty() && name.size() <= 32 &&
                             name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos;
    return make_error(Errc::invalid_argument,
                      (option_like ? "unknown option '" + std::string(name) + "'"
                                   : "unknown option (argument " + std::to_string(position) + ", not shown)") +
                          "; see pam_totp(8)");
}

}  // namespace

Result<ModuleOptions> parse_module_options(int argc, const char* const* argv) {
    ModuleOptions opts;
    std::array<bool, options.size()> seen{};
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
        while (idx < options.size() && options[idx].name != name) {
            ++idx;
        }
        if (idx == options.size()) {
            return unknown(name, i + 1);
        }
        const OptionSpec& spec = options[idx];
        if (spec.takes_value != has_value) {
            return bad(name, spec.takes_value ? "needs a value (" + std::string(name) + "=...)" : "takes no value");
        }
        if (seen[idx]) {
            return bad(name, "given twice");
        }
        seen[idx] = true;
        if (Status st = spec.apply(opts, name, value); !st) {
            return st.error();
        }
    }
    // Checked after all options, whatever their order on the line.
    if (opts.rate.max_unlock_time < opts.rate.unlock_time) {
        return make_error(Errc::invalid_argument, "option max_unlock_time: must be at least unlock_time");
    }
    if (opts.defer && !opts.forward_pass) {
        return make_error(Errc::invalid_argument, "option defer: only with forward_pass (see pam_totp(8))");
    }
    return opts;
}

}  // namespace pam_totp
