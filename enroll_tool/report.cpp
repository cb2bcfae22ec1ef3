#include "report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "core/otp/hotp.h"

namespace totp_enroll {
namespace {

bool non_default(const pam_totp::TotpParams& p) {
    return p.algorithm != pam_totp::Algorithm::sha1 || p.digits != 6 || p.period != 30;
}

std::string describe(const pam_totp::TotpParams& p) {
    std::string alg(pam_totp::algorithm_name(p.algorithm));
    for (auto& c : alg) {
        c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    return alg + ", " + std::to_string(p.digits) + " digits, " + std::to_string(p.period) + "-second period";
}

std::string utc(std::time_t t) {
    struct tm tm {};
    if (::gmtime_r(&t, &tm) == nullptr) {
        return std::to_string(t);
    }
    char buf[64];
    if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        return std::to_string(t);
    }
    return buf;
}

// RFC 8259 section 7 string escaping.
std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            char buf[8];
            (void)std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

pam_totp::SecureBuffer enrollment_intro(const std::string& heading, const pam_totp::SecureBuffer& qr,
                                        const pam_totp::SecureBuffer& uri, const pam_totp::TokenEntry& token) {
    pam_totp::SecureBuffer text;
    text.append(heading + "\n\n");
    if (!qr.empty()) {
        text.append("Scan this QR code with your authenticator app:\n\n");
        text.append(qr.view());
        text.append("\n");
    }
    text.append("URI: ");
    text.append(uri.view());
    text.append("\n");
    auto b32 = pam_totp::base32_encode(token.key);
    if (b32) {
        text.append("Or type this secret by hand: ");
        const std::string_view s = b32.value().view();
        for (std::size_t i = 0; i < s.size(); i += 4) {
            if (i > 0) {
                text.append(" ");
            }
            text.append(s.substr(i, 4));
        }
        text.append("\n");
    }
    text.append("(" + describe_token(token) + ")\n");
    if (token.type == pam_totp::TokenType::hotp) {
        text.append(
            "\nNote: not every app supports counter-based (HOTP) codes; the next step checks that yours "
            "does.\n");
    } else if (non_default(token.params)) {
        text.append("\nWarning: " + describe(token.params) +
                    " is not the usual SHA1, 6 digits, 30 seconds. Several popular apps ignore these settings "
                    "and show wrong codes; the next step checks that yours does not.\n");
    }
    text.append("\n");
    return text;
}

std::string describe_token(const pam_totp::TokenEntry& token) {
    if (token.type == pam_totp::TokenType::hotp) {
        return "HOTP, SHA1, " + std::to_string(token.params.digits) + " digits, counter " +
               std::to_string(token.counter);
    }
    return describe(token.params);
}

std::string wrong_code_hint(const pam_totp::TokenEntry& token, bool from_token, int tries_left) {
    std::string hint = "That code does not match. ";
    if (token.type == pam_totp::TokenType::hotp) {
        hint += "It is none of the codes for counters " + std::to_string(token.counter) + " to " +
                std::to_string(token.counter + pam_totp::default_hotp_window) + ". Check ";
        hint += from_token ? "that the secret is the one programmed into the token and the counter is the token's "
                             "(--counter)"
                           : "that the app made a counter-based entry";
        hint += ", then take a new code";
    } else if (from_token) {
        hint += "Check that the secret is the one programmed into the token and that its clock is right";
    } else {
        hint += "Check that the phone sets its time automatically";
        if (non_default(token.params)) {
            hint += " and that the app supports " + describe(token.params);
        }
    }
    hint += ". " + std::to_string(tries_left) + (tries_left == 1 ? " try" : " tries") + " left.\n";
    return hint;
}

std::string offset_text(long offset) {
    return (offset > 0 ? "+" : "") + std::to_string(offset) + " s";
}

pam_totp::SecureBuffer recovery_box(const std::vector<pam_totp::SecureBuffer>& codes) {
    const std::string rule = "+------------------------------------------------------+\n";
    pam_totp::SecureBuffer box;
    box.append("\n" + rule);
    box.append("| Recovery codes: each one works once, instead of a    |\n");
    box.append("| code from the app. Store them now, somewhere safe    |\n");
    box.append("| (a password manager, or printed); they are not shown |\n");
    box.append("| again.                                               |\n");
    box.append("|                                                      |\n");
    for (std::size_t i = 0; i < codes.size(); i += 2) {
        box.append("|    ");
        box.append(codes[i].view());
        box.append("        ");
        if (i + 1 < codes.size()) {
            box.append(codes[i + 1].view());
        } else {
            box.append(std::string(codes[i].size(), ' '));
        }
        box.append(std::string(54 - 4 - 8 - 2 * codes[i].size(), ' '));
        box.append("|\n");
    }
    box.append(rule);
    return box;
}

std::string status_text(const std::string& user, const std::string& path,
                        const std::optional<pam_totp::SecretFile>& file, std::optional<std::size_t> recovery_left) {
    if (!file) {
        return user + " is not enrolled (no " + path + "). Run totp-enroll to set it up.\n";
    }
    std::string s;
    s += "User:            " + user + "\n";
    s += "Secret file:     " + path + "\n";
    s += "Enrolled:        " + utc(file->enrolled) + "\n";
    s += "Codes:           " + describe_token(file->tokens.front()) + "\n";
    if (file->tokens.size() > 1) {
        s += "Tokens:          " + std::to_string(file->tokens.size()) + ": " + token_names(*file) +
             " (totp-enroll --list shows them)\n";
    }
    s += "Window:          " +
         (file->window ? std::to_string(*file->window) + " steps either side"
                       : std::string("the module's (window= option, default 1)")) +
         "\n";
    s += "Recovery codes:  " + std::to_string(file->recovery_hashes.size()) + " stored";
    if (recovery_left) {
        s += ", " + std::to_string(*recovery_left) + " unused";
    } else {
        s += " (how many are used is known to root only)";
    }
    s += "\n";
    return s;
}

std::string status_json(const std::string& user, const std::string& path,
                        const std::optional<pam_totp::SecretFile>& file, std::optional<std::size_t> recovery_left) {
    std::string s = "{\"user\":" + json_string(user) + ",\"secret_file\":" + json_string(path) +
                    ",\"enrolled\":" + (file ? "true" : "false");
    if (file) {
        const pam_totp::TokenEntry& first = file->tokens.front();
        s += ",\"enrolled_at\":" + json_string(utc(file->enrolled)) +
             ",\"enrolled_unix\":" + std::to_string(file->enrolled) +
             ",\"algorithm\":" + json_string(std::string(pam_totp::algorithm_name(first.params.algorithm))) +
             ",\"digits\":" + std::to_string(first.params.digits) + ",\"period\":" +
             (first.type == pam_totp::TokenType::totp ? std::to_string(first.params.period) : std::string("null")) +
             ",\"tokens\":" + std::to_string(file->tokens.size()) +
             ",\"window\":" + (file->window ? std::to_string(*file->window) : std::string("null")) +
             ",\"recovery_codes\":" + std::to_string(file->recovery_hashes.size()) +
             ",\"recovery_codes_unused\":" + (recovery_left ? std::to_string(*recovery_left) : std::string("null"));
    }
    return s + "}\n";
}

std::string token_names(const pam_totp::SecretFile& file) {
    std::string names;
    for (const pam_totp::TokenEntry& t : file.tokens) {
        names += (names.empty() ? "" : ", ") + t.name;
    }
    return names;
}

std::string list_text(const std::string& user, const std::string& path,
                      const std::optional<pam_totp::SecretFile>& file) {
    if (!file) {
        return user + " is not enrolled (no " + path + "). Run totp-enroll to set it up.\n";
    }
    std::size_t width = 4;
    for (const pam_totp::TokenEntry& t : file->tokens) {
        width = std::max(width, t.name.size());
    }
    const auto cell = [](std::string text, std::size_t w) {
        text.resize(std::max(text.size() + 2, w + 2), ' ');
        return text;
    };
    std::string s = "Tokens of " + user + " (" + path + "):\n";
    s += cell("NAME", width) + "TYPE  ALGORITHM  DIGITS  PERIOD/COUNTER      ADDED\n";
    for (const pam_totp::TokenEntry& t : file->tokens) {
        std::string moving;
        if (t.type == pam_totp::TokenType::hotp) {
            moving = "counter " + std::to_string(t.counter);
        } else {
            moving = std::to_string(t.params.period) + " s";
            if (t.offset != 0) {
                moving += ", clock " + offset_text(t.offset);
            }
        }
        s += cell(t.name, width) + cell(std::string(pam_totp::token_type_name(t.type)), 4) +
             cell(std::string(pam_totp::algorithm_name(t.params.algorithm)), 9) +
             cell(std::to_string(t.params.digits), 6) + cell(moving, 18) + utc(t.added) + "\n";
    }
    return s;
}

std::string list_json(const std::string& user, const std::string& path,
                      const std::optional<pam_totp::SecretFile>& file) {
    std::string s = "{\"user\":" + json_string(user) + ",\"secret_file\":" + json_string(path) +
                    ",\"enrolled\":" + (file ? "true" : "false") + ",\"tokens\":[";
    if (file) {
        bool first = true;
        for (const pam_totp::TokenEntry& t : file->tokens) {
            const bool totp = t.type == pam_totp::TokenType::totp;
            s += first ? "" : ",";
            first = false;
            s += "{\"name\":" + json_string(t.name) +
                 ",\"type\":" + json_string(std::string(pam_totp::token_type_name(t.type))) +
                 ",\"algorithm\":" + json_string(std::string(pam_totp::algorithm_name(t.params.algorithm))) +
                 ",\"digits\":" + std::to_string(t.params.digits) +
                 ",\"period\":" + (totp ? std::to_string(t.params.period) : std::string("null")) +
                 ",\"offset\":" + (totp ? std::to_string(t.offset) : std::string("null")) +
                 ",\"counter\":" + (totp ? std::string("null") : std::to_string(t.counter)) +
                 ",\"added_at\":" + json_string(utc(t.added)) + ",\"added_unix\":" + std::to_string(t.added) + "}";
        }
    }
    return s + "]}\n";
}

}  // namespace totp_enroll
