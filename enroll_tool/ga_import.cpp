#include "enroll_tool/ga_import.h"

#include <algorithm>

#include "core/files/kv_format.h"
#include "core/files/secret_file.h"
#include "core/otp/totp.h"
#include "core/util/text.h"
#include "enroll_tool/enrollment.h"

namespace pam_totp {
namespace {

constexpr std::size_t max_scratch_codes = 100;

Error line_err(std::size_t line, const std::string& problem) {
    return make_error(Errc::format, "google-authenticator file line " + std::to_string(line) + ": " + problem);
}

// The words of an option line after the leading '"'.
std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && text[i] != ' ') {
            ++i;
        }
        if (i > start) {
            out.push_back(text.substr(start, i - start));
        }
    }
    return out;
}

}  // namespace

Result<GaImport> parse_google_authenticator(std::string_view text) {
    if (text.size() > max_file_size) {
        return make_error(Errc::format, "google-authenticator file: larger than 64 KiB; not such a file");
    }
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\n' && c != '\r') || u >= 0x7f) {
            return make_error(Errc::format, "google-authenticator file: contains binary data; not such a file");
        }
    }
    GaImport out;
    bool totp = false;
    bool have_secret = false;
    bool step_size = false;
    std::optional<std::uint64_t> window_size;  // as written: codes in all
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.size() > max_line_length) {
            return line_err(line_no, "line too long");
        }
        if (!have_secret) {
            auto key = base32_decode(line);
            if (!key) {
                return line_err(line_no, "the first line must be the base32 secret");
            }
            if (key.value().size() < min_secret_bytes || key.value().size() > max_secret_bytes) {
                return line_err(line_no, "the secret must be 80 to 1024 bits long");
            }
            out.key = std::move(key).value();
            have_secret = true;
            continue;
        }
        if (line.empty()) {
            continue;
        }
        if (line.front() == '"') {
            const auto w = words(line.substr(1));
            if (w.empty()) {
                return line_err(line_no, "empty option line");
            }
            const std::string_view opt = w[0];
            if (opt == "TOTP_AUTH") {
                totp = true;
            } else if (opt == "HOTP_COUNTER") {
                if (out.hotp_counter) {
                    return line_err(line_no, "a second HOTP_COUNTER line; keep one in a copy of the file");
                }
                auto n =
                    w.size() == 2 ? parse_decimal(w[1], max_start_counter) : make_error(Errc::format, "missing value");
                if (!n) {
                    return line_err(line_no,
                                    "HOTP_COUNTER needs a number from 0 to " + std::to_string(max_start_counter));
                }
                out.hotp_counter = n.value();
            } else if (opt == "STEP_SIZE") {
                step_size = true;
                auto n = w.size() == 2 ? parse_decimal(w[1], 1000) : make_error(Errc::format, "missing value");
                if (!n || !period_problem(static_cast<unsigned>(n.value())).empty()) {
                    return line_err(line_no, "STEP_SIZE: the " + period_problem(0) + " for pam_totp");
                }
                out.period = static_cast<unsigned>(n.value());
            } else if (opt == "WINDOW_SIZE") {
                auto n = w.size() == 2 ? parse_decimal(w[1], 1000) : make_error(Errc::format, "missing value");
                if (!n || n.value() < 1) {
                    return line_err(line_no, "WINDOW_SIZE needs a number from 1 to 1000");
                }
                window_size = n.value();
                // google-authenticator counts codes in all (3 = one step either side).
                unsigned steps = static_cast<unsigned>((n.value() - 1) / 2);
                if (steps > max_window) {
                    out.notes.push_back("WINDOW_SIZE " + std::to_string(n.value()) + " allows " +
                                        std::to_string(steps) + " steps either side; pam_totp allows at most " +
                                        std::to_string(max_window) + ", so the window is " +
                                        std::to_string(max_window));
                    steps = max_window;
                }
                out.window = steps;
            } else if (opt == "RATE_LIMIT") {
                out.notes.push_back(
                    "RATE_LIMIT is not carried over: pam_totp's deny=, fail_interval= and "
                    "unlock_time= options limit guessing instead");
            } else if (opt == "DISALLOW_REUSE") {
                // pam_totp always refuses reuse; the used time steps belong to the old setup.
            } else if (opt == "TIME_SKEW") {
                out.notes.push_back("TIME_SKEW is not carried over: keep the clock synchronised (timedatectl)");
            } else {
                return line_err(line_no, "unknown option line (\" " + std::string(opt.substr(0, 32)) +
                                             "); not a google-authenticator file this tool understands");
            }
            continue;
        }
        if (line.size() == 8 && all_digits(line)) {
            if (out.scratch_codes.size() == max_scratch_codes) {
                return line_err(line_no, "more than 100 scratch codes");
            }
            out.scratch_codes.emplace_back(line);
            continue;
        }
        return line_err(line_no, "neither an option line nor an 8-digit scratch code");
    }
    if (!have_secret) {
        return make_error(Errc::format, "google-authenticator file: empty; there is no secret to import");
    }
    if (totp && out.hotp_counter) {
        return make_error(Errc::format,
                          "google-authenticator file: both \" TOTP_AUTH and \" HOTP_COUNTER, so it is neither a "
                          "time-based nor a counter-based secret for sure; delete the line that is wrong in a copy "
                          "of the file and import the copy");
    }
    if (!totp && !out.hotp_counter) {
        return make_error(Errc::format,
                          "google-authenticator file: neither a \" TOTP_AUTH nor a \" HOTP_COUNTER line, so it "
                          "is not a secret google-authenticator could use; enroll anew with totp-enroll");
    }
    if (out.hotp_counter) {
        // The options of time-based codes mean nothing to a counter, and
        // WINDOW_SIZE is HOTP's look-ahead there: the module's hotp_window=.
        out.period = 30;
        out.window.reset();
        out.notes.erase(std::remove_if(out.notes.begin(), out.notes.end(),
                                       [](const std::string& n) { return n.starts_with("WINDOW_SIZE"); }),
                        out.notes.end());
        if (window_size) {
            out.notes.push_back("WINDOW_SIZE " + std::to_string(*window_size) +
                                " (the look-ahead of an HOTP secret) is not carried over: pam_totp's hotp_window= "
                                "option (default 10) sets it for every HOTP token");
        }
        if (step_size) {
            out.notes.push_back("STEP_SIZE is for time-based codes; this secret is counter-based, so it is ignored");
        }
    }
    return out;
}

}  // namespace pam_totp
