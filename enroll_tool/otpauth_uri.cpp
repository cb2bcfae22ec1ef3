#include "enroll_tool/otpauth_uri.h"

#include <cctype>

namespace pam_totp {

Status validate_label_part(std::string_view what, std::string_view text) {
    if (text.empty() || text.size() > 128) {
        return make_error(Errc::invalid_argument, std::string(what) + " must be 1 to 128 characters");
    }
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            return make_error(Errc::invalid_argument, std::string(what) + " must not contain control characters");
        }
        if (c == ':') {
            return make_error(Errc::invalid_argument,
                              std::string(what) + " must not contain ':' (it separates issuer and account)");
        }
    }
    return {};
}

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        // RFC 3986 section 2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
        if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0x0f]);
        }
    }
    return out;
}

namespace {

// "otpauth://TYPE/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER", checked.
Result<SecureBuffer> uri_start(std::string_view type, std::string_view issuer, std::string_view account,
                               const SecureBuffer& key) {
    if (Status st = validate_label_part("the issuer", issuer); !st) {
        return st.error();
    }
    if (Status st = validate_label_part("the account name", account); !st) {
        return st.error();
    }
    auto secret = base32_encode(key);
    if (!secret) {
        return secret.error();
    }
    const std::string enc_issuer = percent_encode(issuer);
    SecureBuffer uri;
    uri.append("otpauth://" + std::string(type) + "/" + enc_issuer + ":" + percent_encode(account) + "?secret=");
    uri.append(secret.value().view());
    uri.append("&issuer=" + enc_issuer);
    return uri;
}

}  // namespace

Result<SecureBuffer> make_otpauth_uri(std::string_view issuer, std::string_view account, const SecureBuffer& key,
                                      const TotpParams& params) {
    auto uri = uri_start("totp", issuer, account, key);
    if (!uri) {
        return uri;
    }
    if (Status st = validate_params(params); !st) {
        return st.error();
    }
    if (params.algorithm != Algorithm::sha1) {
        uri.value().append(params.algorithm == Algorithm::sha256 ? "&algorithm=SHA256" : "&algorithm=SHA512");
    }
    if (params.digits != 6) {
        uri.value().append("&digits=" + std::to_string(params.digits));
    }
    if (params.period != 30) {
        uri.value().append("&period=" + std::to_string(params.period));
    }
    return uri;
}

Result<SecureBuffer> make_otpauth_hotp_uri(std::string_view issuer, std::string_view account, const SecureBuffer& key,
                                           unsigned digits, std::uint64_t counter) {
    auto uri = uri_start("hotp", issuer, account, key);
    if (!uri) {
        return uri;
    }
    if (std::string problem = digits_problem(digits); !problem.empty()) {
        return make_error(Errc::invalid_argument, problem);
    }
    if (digits != 6) {
        uri.value().append("&digits=" + std::to_string(digits));
    }
    uri.value().append("&counter=" + std::to_string(counter));
    return uri;
}

}  // namespace pam_totp
