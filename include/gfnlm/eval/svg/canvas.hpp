#pragma once
// The drawing layer under the charts of eval/svg.hpp: XML escaping, an SVG canvas that writes
// elements as text, axis scales with "nice" ticks, the colour palette and write_svg. No
// dependency beyond fmt, so an example can write its figures anywhere (STYLE: pictures as SVG).
#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gfnlm {

// Text and attribute values for XML: the five special characters become entities and control
// characters that XML 1.0 forbids are dropped (a label read from a model can contain anything).
inline std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') break;
        out += ch;
    }
  }
  return out;
}

// Writes an SVG document atomically (core/atomic_file.hpp): a reader never sees half a figure.
inline void write_svg(const std::filesystem::path& path, const std::string& svg) {
  write_file_atomically(path, [&](std::ostream& os) { os << svg; });
}

namespace svg {

// Tableau 10: distinguishable, colour-blind friendlier than the defaults of most plotting tools.
inline const char* color(std::size_t i) {
  static constexpr const char* palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                            "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return palette[i % 10];
}

inline constexpr const char* kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";

// Estimated width of a label in pixels (no font metrics available; 0.6 em per character is a
// safe upper bound for the sans-serif fonts above), used to keep labels from overlapping.
inline double text_width(std::string_view text, double font_size) {
  std::size_t chars = 0;
  for (char ch : text)
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++chars;  // count UTF-8 code points
  return 0.6 * font_size * double(chars);
}

enum class Anchor { start, middle, end };

struct TextStyle {
  double size = 12;
  Anchor anchor = Anchor::middle;
  bool bold = false;
  double rotate = 0;  // degrees, around the anchor point
  const char* fill = "#222222";
};

// Elements are appended as text; str() wraps them in the <svg> root.
class Canvas {
 public:
  Canvas(double width, double height) : width_(width), height_(height) {}

  void rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view css_class = "") {
    body_ += fmt::format(
        "<rect{} x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
        "fill=\"{}\"/>\n",
        class_attr(css_class), x, y, std::max(w, 0.0), std::max(h, 0.0), fill);
  }

  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double width = 1,
            std::string_view dash = "") {
    body_ += fmt::format(
        "<line x1=\"{:.2f}\" y1=\"{:.2f}\" x2=\"{:.2f}\" y2=\"{:.2f}\" stroke=\"{}\" "
        "stroke-width=\"{:.2f}\"{}/>\n",
        x1, y1, x2, y2, stroke, width,
        dash.empty() ? std::string() : fmt::format(" stroke-dasharray=\"{}\"", dash));
  }

  void polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke,
                double width = 2, std::string_view css_class = "") {
    if (points.empty()) return;
    std::string coords;
    for (const auto& [x, y] : points) coords += fmt::format("{:.2f},{:.2f} ", x, y);
    coords.pop_back();
    body_ += fmt::format(
        "<polyline{} points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{:.2f}\" "
        "stroke-linejoin=\"round\"/>\n",
        class_attr(css_class), coords, stroke, width);
  }

  void circle(double cx, double cy, double r, std::string_view fill) {
    body_ += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"{:.2f}\" fill=\"{}\"/>\n", cx, cy,
                         r, fill);
  }

  void text(double x, double y, std::string_view content, const TextStyle& style = {}) {
    static constexpr const char* anchors[] = {"start", "middle", "end"};
    std::string transform;
    if (style.rotate != 0)
      transform = fmt::format(" transform=\"rotate({:.1f} {:.2f} {:.2f})\"", style.rotate, x, y);
    body_ += fmt::format(
        "<text x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"{:.1f}\" text-anchor=\"{}\" fill=\"{}\"{}{}>"
        "{}</text>\n",
        x, y, style.size, anchors[static_cast<int>(style.anchor)], style.fill,
        style.bold ? " font-weight=\"bold\"" : "", transform, escape_xml(content));
  }

  std::string str() const {
    return fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
        "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"{2}\">\n"
        "<rect x=\"0\" y=\"0\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
        "fill=\"#ffffff\"/>\n{3}</svg>\n",
        width_, height_, kFont, body_);
  }

 private:
  static std::string class_attr(std::string_view c) {
    return c.empty() ? std::string() : fmt::format(" class=\"{}\"", c);
  }
  double width_, height_;
  std::string body_;
};

// 1, 2 or 5 times a power of ten, near x (Heckbert's "nice numbers", Graphics Gems 1990).
inline double nice_step(double x) {
  const double exponent = std::floor(std::log10(x));
  const double fraction = x / std::pow(10.0, exponent);
  const double nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * std::pow(10.0, exponent);
}

// A value axis: maps data to pixels and knows its ticks. Linear ranges widen to whole ticks;
// log ranges widen to whole decades.
struct Scale {
  double lo = 0, hi = 1;  // data range (for log: positive)
  bool log = false;
  std::vector<double> ticks;

  static Scale linear(double lo, double hi, int max_ticks = 6) {
    if (!(hi > lo)) hi = lo + (lo == 0 ? 1 : std::abs(lo));  // flat data: a visible range
    Scale s;
    const double step = nice_step((hi - lo) / std::max(max_ticks - 1, 1));
    s.lo = std::floor(lo / step + 1e-9) * step;
    s.hi = std::ceil(hi / step - 1e-9) * step;
    for (int i = 0; s.lo + i * step <= s.hi + step * 1e-6; ++i) {
      const double t = s.lo + i * step;
      s.ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
    }
    return s;
  }

  static Scale logarithmic(double lo, double hi) {
    GFNLM_CHECK(lo > 0 && hi > 0, "log scale needs positive values, got [{}, {}]", lo, hi);
    Scale s;
    s.log = true;
    double a = std::floor(std::log10(lo) + 1e-9), b = std::ceil(std::log10(hi) - 1e-9);
    if (b <= a) b = a + 1;
    s.lo = std::pow(10.0, a);
    s.hi = std::pow(10.0, b);
    const int decades = int(b - a);
    const int every = decades > 8 ? int(std::ceil(decades / 6.0)) : 1;  // at most ~7 labels
    for (int e = int(a); e <= int(b); e += every) {
      s.ticks.push_back(std::pow(10.0, e));
      if (decades <= 2 && e < int(b)) {  // few decades: 2 and 5 between the powers
        s.ticks.push_back(2 * std::pow(10.0, e));
        s.ticks.push_back(5 * std::pow(10.0, e));
      }
    }
    std::sort(s.ticks.begin(), s.ticks.end());
    return s;
  }

  // Fraction of the way from lo to hi (0..1; outside for values out of range).
  double fraction(double v) const {
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }

  std::string label(double v) const {
    if (log) {
      const double e = std::log10(v);
      if (std::abs(e - std::round(e)) < 1e-9 && (e < -3 || e > 4))
        return fmt::format("1e{}", int(std::round(e)));
      return fmt::format("{:g}", v);
    }
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
    const int decimals = std::max(0, int(std::ceil(-std::log10(step) - 1e-9)));
    return fmt::format("{:.{}f}", v, decimals);
  }
};

// Y axis of a plot area [x0, x1] x [y0 (top), y1 (bottom)]: grid lines across it, tick labels on
// the left (optional, so side-by-side panels can share the first panel's labels).
inline void draw_y_axis(Canvas& c, const Scale& s, double x0, double x1, double y0, double y1,
                        bool labels = true) {
  for (double t : s.ticks) {
    const double y = y1 - s.fraction(t) * (y1 - y0);
    c.line(x0, y, x1, y, "#e3e3e3", 1);
    if (labels) c.text(x0 - 6, y + 4, s.label(t), {.size = 11, .anchor = Anchor::end});
  }
  c.line(x0, y0, x0, y1, "#555555", 1);
}

// Legend as a column of swatches at (x, y); returns its height.
inline double draw_legend(Canvas& c, double x, double y, const std::vector<std::string>& names,
                          bool lines = false) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double row = y + 18.0 * double(i);
    if (lines)
      c.line(x, row + 6, x + 16, row + 6, color(i), 2.5);
    else
      c.rect(x, row, 12, 12, color(i));
    c.text(x + 20, row + 10.5, names[i], {.size = 12, .anchor = Anchor::start});
  }
  return 18.0 * double(names.size());
}

// Width of the widest tick label of a scale, to size the left margin.
inline double tick_label_width(const Scale& s) {
  double w = 0;
  for (double t : s.ticks) w = std::max(w, text_width(s.label(t), 11));
  return w;
}

inline double legend_width(const std::vector<std::string>& names) {
  double w = 0;
  for (const auto& n : names) w = std::max(w, text_width(n, 12));
  return names.empty() ? 0 : w + 28;
}

}  // namespace svg
}  // namespace gfnlm
