#include "enroll_tool/qr_text.h"

#include <qrencode.h>
#include <string.h>  // explicit_bzero

#include <cerrno>
#include <memory>

namespace pam_totp {
namespace {

// Black on white whatever the terminal's theme: scanners want dark modules
// on a light background, and a dark terminal would otherwise invert them.
constexpr std::string_view black_on_white = "\x1b[30;47m";
constexpr std::string_view black_cell = "\x1b[40m  ";
constexpr std::string_view white_cell = "\x1b[47m  ";
constexpr std::string_view reset = "\x1b[0m";

// The QR matrix holds the secret in another form: wipe it before freeing.
struct QrFree {
    void operator()(QRcode* qr) const noexcept {
        if (qr != nullptr) {
            ::explicit_bzero(qr->data, static_cast<std::size_t>(qr->width) * static_cast<std::size_t>(qr->width));
            ::QRcode_free(qr);
        }
    }
};

class Matrix {
  public:
    explicit Matrix(const QRcode& qr) : m_qr(qr) {}
    int size() const noexcept { return m_qr.width + 2 * qr_quiet_zone; }
    // Dark module at (x, y) in quiet-zone coordinates; outside is light.
    bool dark(int x, int y) const noexcept {
        const int qx = x - qr_quiet_zone;
        const int qy = y - qr_quiet_zone;
        if (qx < 0 || qy < 0 || qx >= m_qr.width || qy >= m_qr.width) {
            return false;
        }
        return (m_qr.data[qy * m_qr.width + qx] & 1) != 0;
    }

  private:
    const QRcode& m_qr;
};

void draw_utf8(const Matrix& m, SecureBuffer& out) {
    // Each character is two modules stacked: the upper one drawn in the
    // foreground colour (black) when dark, the lower likewise.
    for (int y = 0; y < m.size(); y += 2) {
        out.append(black_on_white);
        for (int x = 0; x < m.size(); ++x) {
            const bool top = m.dark(x, y);
            const bool bottom = y + 1 < m.size() && m.dark(x, y + 1);
            if (top && bottom) {
                out.append("\u2588");  // full block
            } else if (top) {
                out.append("\u2580");  // upper half block
            } else if (bottom) {
                out.append("\u2584");  // lower half block
            } else {
                out.append(" ");
            }
        }
        out.append(reset);
        out.append("\n");
    }
}

void draw_cells(const Matrix& m, SecureBuffer& out, bool ansi) {
    for (int y = 0; y < m.size(); ++y) {
        for (int x = 0; x < m.size(); ++x) {
            const bool d = m.dark(x, y);
            if (ansi) {
                out.append(d ? black_cell : white_cell);
            } else {
                out.append(d ? "##" : "  ");
            }
        }
        if (ansi) {
            out.append(reset);
        }
        out.append("\n");
    }
}

}  // namespace

std::optional<QrStyle> parse_qr_style(std::string_view name) {
    if (name == "utf8") {
        return QrStyle::utf8;
    }
    if (name == "ansi") {
        return QrStyle::ansi;
    }
    if (name == "ascii") {
        return QrStyle::ascii;
    }
    if (name == "none") {
        return QrStyle::none;
    }
    return std::nullopt;
}

Result<SecureBuffer> render_qr(const SecureBuffer& text, QrStyle style) {
    SecureBuffer out;
    if (style == QrStyle::none) {
        return out;
    }
    SecureBuffer cstr = text.clone();
    cstr.append("", 1);  // libqrencode takes a C string
    errno = 0;
    // Level M (15% recovery) keeps the symbol small enough for an 80-column
    // terminal while surviving a slightly blurry phone camera.
    const std::unique_ptr<QRcode, QrFree> qr(::QRcode_encodeString(cstr.chars(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
    if (!qr) {
        return make_error(Errc::io, errno_message("QRcode_encodeString", errno));
    }
    const Matrix m(*qr);
    if (style == QrStyle::utf8) {
        draw_utf8(m, out);
    } else {
        draw_cells(m, out, style == QrStyle::ansi);
    }
    return out;
}

}  // namespace pam_totp
