#include "core/login/helper_policy.h"

#include <optional>

namespace pam_totp {

Result<std::vector<std::string>> split_module_arguments(std::string_view line) {
    std::vector<std::string> args;
    std::size_t i = 0;
    const auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (i < line.size()) {
        if (blank(line[i])) {
            ++i;
            continue;
        }
        if (line[i] == '[') {
            const auto close = line.find(']', i + 1);
            if (close == std::string_view::npos) {
                return make_error(Errc::format, "a '[' without its ']'");
            }
            args.emplace_back(line.substr(i + 1, close - i - 1));
            i = close + 1;
            continue;
        }
        const std::size_t start = i;
        while (i < line.size() && !blank(line[i])) {
            ++i;
        }
        args.emplace_back(line.substr(start, i - start));
    }
    return args;
}

bool same_policy(const ModuleOptions& a, const ModuleOptions& b) noexcept {
    return a.secret == b.secret && a.state_dir == b.state_dir && a.store == b.store &&
           a.store_config == b.store_config && a.window == b.window && a.hotp_window == b.hotp_window &&
           a.grace_period == b.grace_period && a.rate.deny == b.rate.deny &&
           a.rate.fail_interval == b.rate.fail_interval && a.rate.unlock_time == b.rate.unlock_time &&
           a.rate.max_unlock_time == b.rate.max_unlock_time && a.no_recovery == b.no_recovery;
}

Result<std::vector<ModuleOptions>> allowed_policies(const std::optional<std::string_view>& conf) {
    std::vector<ModuleOptions> allowed;
    if (!conf) {
        allowed.emplace_back();
        return allowed;
    }
    std::string_view rest = *conf;
    unsigned number = 0;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        ++number;
        const std::string where = std::string(helper_conf_path) + " line " + std::to_string(number) + ": ";
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos || line[first] == '#') {
            continue;
        }
        auto args = split_module_arguments(line);
        if (!args) {
            return make_error(Errc::format, where + args.error().message);
        }
        std::vector<const char*> argv;
        argv.reserve(args.value().size());
        for (const std::string& a : args.value()) {
            argv.push_back(a.c_str());
        }
        auto opts = parse_module_options(static_cast<int>(argv.size()), argv.data());
        if (!opts) {
            return make_error(Errc::format, where + opts.error().message);
        }
        // Every line must keep the state in one place: a caller may use any
        // line, and lines with different places would each give it a
        // guessing budget and a record of used codes of their own.
        if (!allowed.empty() &&
            (opts.value().state_dir != allowed.front().state_dir || opts.value().store != allowed.front().store ||
             opts.value().store_config != allowed.front().store_config)) {
            return make_error(Errc::format, where +
                                                "state_dir, store and store_config differ from the first line's: "
                                                "every line must keep the state in the same place");
        }
        allowed.push_back(std::move(opts).value());
    }
    return allowed;
}

Status check_policy(const ModuleOptions& requested, const std::vector<ModuleOptions>& allowed) {
    for (const ModuleOptions& a : allowed) {
        if (same_policy(requested, a)) {
            return {};
        }
    }
    return make_error(Errc::permission,
                      std::string("the module's options are not among those ") + helper_conf_path +
                          " allows for programs that run as the user (screen lockers): copy the pam_totp "
                          "options of that PAM line into it (pam_totp(8), UNPRIVILEGED CALLERS)");
}

}  // namespace pam_totp
