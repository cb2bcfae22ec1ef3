// The QR code as terminal text (enroll_tool/qr_text.h): every style renders the
// symbol libqrencode makes, with the 4-module quiet zone, row by row.
#include <qrencode.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cmocka.hpp"
#include "enroll_tool/qr_text.h"

namespace {

using pam_totp::QrStyle;
using pam_totp::render_qr;
using pam_totp::SecureBuffer;

constexpr std::string_view uri =
    "otpauth://totp/CliTest:alice%40example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=CliTest";

struct QrFree {
    void operator()(QRcode* qr) const noexcept { ::QRcode_free(qr); }
};

// The reference symbol, made the way qr_text.cpp says it makes it.
std::unique_ptr<QRcode, QrFree> reference() {
    const std::string text(uri);
    return std::unique_ptr<QRcode, QrFree>(::QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
}

int full_size(const QRcode& qr) {
    return qr.width + 2 * pam_totp::qr_quiet_zone;
}

bool dark(const QRcode& qr, int x, int y) {
    const int qx = x - pam_totp::qr_quiet_zone;
    const int qy = y - pam_totp::qr_quiet_zone;
    if (qx < 0 || qy < 0 || qx >= qr.width || qy >= qr.width) {
        return false;
    }
    return (qr.data[qy * qr.width + qx] & 1) != 0;
}

std::vector<std::string> lines(std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t end = text.find('\n', pos);
        assert_true(end != std::string_view::npos);  // every line ends in '\n'
        out.emplace_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

SecureBuffer render(QrStyle style) {
    auto r = render_qr(SecureBuffer(uri), style);
    assert_true(r.ok());
    return std::move(r).value();
}

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

void ascii_matches_symbol(void** /*state*/) {
    const auto qr = reference();
    assert_non_null(qr.get());
    const int n = full_size(*qr);
    const SecureBuffer text = render(QrStyle::ascii);
    assert_false(text.empty());
    const auto rows = lines(text.view());
    assert_int_equal(rows.size(), static_cast<std::size_t>(n));
    for (int y = 0; y < n; ++y) {
        const std::string& row = rows[static_cast<std::size_t>(y)];
        assert_int_equal(row.size(), static_cast<std::size_t>(2 * n));
        for (int x = 0; x < n; ++x) {
            const std::string cell = row.substr(static_cast<std::size_t>(2 * x), 2);
            assert_string_equal(cell.c_str(), dark(*qr, x, y) ? "##" : "  ");
        }
    }
    assert_true(text.view().find('\x1b') == std::string_view::npos);
}

void ansi_matches_symbol(void** /*state*/) {
    const auto qr = reference();
    assert_non_null(qr.get());
    const int n = full_size(*qr);
    const SecureBuffer text = render(QrStyle::ansi);
    const auto rows = lines(text.view());
    assert_int_equal(rows.size(), static_cast<std::size_t>(n));
    constexpr std::string_view black = "\x1b[40m  ";
    constexpr std::string_view white = "\x1b[47m  ";
    constexpr std::string_view reset = "\x1b[0m";
    for (int y = 0; y < n; ++y) {
        std::string_view row = rows[static_cast<std::size_t>(y)];
        assert_true(ends_with(row, reset));
        row.remove_suffix(reset.size());
        assert_int_equal(row.size(), static_cast<std::size_t>(n) * black.size());
        for (int x = 0; x < n; ++x) {
            const std::string_view cell = row.substr(static_cast<std::size_t>(x) * black.size(), black.size());
            assert_true(cell == (dark(*qr, x, y) ? black : white));
        }
    }
}

// Decodes the four glyphs utf8 uses; -1 for anything else.
int glyph_bits(std::string_view& s) {
    if (starts_with(s, " ")) {
        s.remove_prefix(1);
        return 0;
    }
    if (starts_with(s, "\u2580")) {
        s.remove_prefix(3);
        return 1;  // top dark
    }
    if (starts_with(s, "\u2584")) {
        s.remove_prefix(3);
        return 2;  // bottom dark
    }
    if (starts_with(s, "\u2588")) {
        s.remove_prefix(3);
        return 3;
    }
    return -1;
}

void utf8_matches_symbol(void** /*state*/) {
    const auto qr = reference();
    assert_non_null(qr.get());
    const int n = full_size(*qr);
    const SecureBuffer text = render(QrStyle::utf8);
    const auto rows = lines(text.view());
    // Two module rows per text row.
    assert_int_equal(rows.size(), static_cast<std::size_t>((n + 1) / 2));
    constexpr std::string_view colours = "\x1b[30;47m";
    constexpr std::string_view reset = "\x1b[0m";
    for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
        std::string_view row = rows[static_cast<std::size_t>(r)];
        assert_true(starts_with(row, colours));
        assert_true(ends_with(row, reset));
        row.remove_prefix(colours.size());
        row.remove_suffix(reset.size());
        for (int x = 0; x < n; ++x) {
            const int bits = glyph_bits(row);
            assert_int_not_equal(bits, -1);
            const int y = 2 * r;
            assert_int_equal((bits & 1) != 0, dark(*qr, x, y));
            assert_int_equal((bits & 2) != 0, y + 1 < n && dark(*qr, x, y + 1));
        }
        assert_true(row.empty());  // exactly n characters
    }
}

void quiet_zone_is_light(void** /*state*/) {
    const SecureBuffer text = render(QrStyle::ascii);
    const auto rows = lines(text.view());
    const std::size_t n = rows.size();
    for (std::size_t i = 0; i < 4; ++i) {
        assert_true(rows[i].find('#') == std::string::npos);
        assert_true(rows[n - 1 - i].find('#') == std::string::npos);
    }
    for (const auto& row : rows) {
        assert_true(row.substr(0, 8).find('#') == std::string::npos);
        assert_true(row.substr(row.size() - 8).find('#') == std::string::npos);
    }
    // ... and the symbol is not: its finder pattern starts right after.
    assert_true(rows[4].substr(8, 14) == "##############");
}

void none_is_empty_others_not(void** /*state*/) {
    assert_true(render(QrStyle::none).empty());
    assert_false(render(QrStyle::utf8).empty());
    assert_false(render(QrStyle::ansi).empty());
    assert_false(render(QrStyle::ascii).empty());
}

void longer_text_bigger_symbol(void** /*state*/) {
    const std::string long_uri = std::string(uri) + "&algorithm=SHA512&digits=8&period=60&x=" + std::string(200, 'A');
    auto small = render_qr(SecureBuffer(uri), QrStyle::ascii);
    auto big = render_qr(SecureBuffer(std::string_view(long_uri)), QrStyle::ascii);
    assert_true(small.ok() && big.ok());
    assert_true(lines(big.value().view()).size() > lines(small.value().view()).size());
}

void parse_style(void** /*state*/) {
    assert_true(pam_totp::parse_qr_style("utf8") == QrStyle::utf8);
    assert_true(pam_totp::parse_qr_style("ansi") == QrStyle::ansi);
    assert_true(pam_totp::parse_qr_style("ascii") == QrStyle::ascii);
    assert_true(pam_totp::parse_qr_style("none") == QrStyle::none);
    assert_false(pam_totp::parse_qr_style("UTF8").has_value());
    assert_false(pam_totp::parse_qr_style("").has_value());
    assert_false(pam_totp::parse_qr_style("bogus").has_value());
    assert_false(pam_totp::parse_qr_style("utf-8").has_value());
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_matches_symbol),
        cmocka_unit_test(ansi_matches_symbol),
        cmocka_unit_test(utf8_matches_symbol),
        cmocka_unit_test(quiet_zone_is_light),
        cmocka_unit_test(none_is_empty_others_not),
        cmocka_unit_test(longer_text_bigger_symbol),
        cmocka_unit_test(parse_style),
    };
    return cmocka_run_group_tests_name("qr_text", tests, nullptr, nullptr);
}
