#include "report.h"

#include <cstdio>
#include <ctime>

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

pam_totp::SecureBuffer enrollment_intro(const std::string& user, const pam_totp::SecureBuffer& qr,
                                        const pam_totp::SecureBuffer& uri, const pam_totp::SecureBuffer& key,
                                        const pam_totp::TotpParams& params) {
    pam_totp::SecureBuffer text;
    text.append("Setting up verification codes for " + user + ".\n\n");
    if (!qr.empty()) {
        text.append("Scan this QR code with your authenticator app:\n\n");
        text.append(qr.view());
        text.append("\n");
    }
    text.append("URI: ");
    text.append(uri.view());
    text.append("\n");
    auto b32 = pam_totp::base32_encode(key);
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
    text.append("(" + describe(params) + ")\n");
    if (non_default(params)) {
        text.append("\nWarning: " + describe(params) +
                    " is not the usual SHA1, 6 digits, 30 seconds. Several popular apps ignore these settings "
                    "and show wrong codes; the next step checks that yours does not.\n");
    }
    text.append("\n");
    return text;
}

std::string wrong_code_hint(const pam_totp::TotpParams& params, int tries_left) {
    std::string hint = "That code does not match. Check that the phone sets its time automatically";
    if (non_default(params)) {
        hint += " and that the app supports " + describe(params);
    }
    hint += ". " + std::to_string(tries_left) + (tries_left == 1 ? " try" : " tries") + " left.\n";
    return hint;
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
    s += "Codes:           " + describe(file->params) + "\n";
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
        s += ",\"enrolled_at\":" + json_string(utc(file->enrolled)) +
             ",\"enrolled_unix\":" + std::to_string(file->enrolled) +
             ",\"algorithm\":" + json_string(std::string(pam_totp::algorithm_name(file->params.algorithm))) +
             ",\"digits\":" + std::to_string(file->params.digits) +
             ",\"period\":" + std::to_string(file->params.period) +
             ",\"window\":" + (file->window ? std::to_string(*file->window) : std::string("null")) +
             ",\"recovery_codes\":" + std::to_string(file->recovery_hashes.size()) +
             ",\"recovery_codes_unused\":" + (recovery_left ? std::to_string(*recovery_left) : std::string("null"));
    }
    return s + "}\n";
}

}  // namespace totp_enroll
