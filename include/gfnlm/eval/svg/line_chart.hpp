#pragma once
// Line plot (issue 3: KL against training steps): several named series of (x, y) points, a
// linear or logarithmic y-axis, and an optional horizontal reference line (e.g. a KL target).
#include <gfnlm/eval/svg/canvas.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gfnlm {

struct LineSeries {
  std::string name;
  std::vector<double> x, y;  // same length; x finite
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  bool log_y = false;  // points with y <= 0 (or non-finite y) are skipped and break the line
  bool markers = false;
  std::optional<double> reference;
  std::string reference_label;
  double plot_width = 520, plot_height = 300;
};

inline std::string to_svg(const LineChart& chart) {
  using namespace svg;
  GFNLM_CHECK(!chart.series.empty(), "LineChart '{}': no series", chart.title);
  auto usable = [&](double y) { return std::isfinite(y) && (!chart.log_y || y > 0); };
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  std::vector<std::string> names;
  for (const auto& series : chart.series) {
    GFNLM_CHECK(series.x.size() == series.y.size(), "LineChart series '{}': {} x for {} y",
                series.name, series.x.size(), series.y.size());
    for (std::size_t i = 0; i < series.x.size(); ++i) {
      GFNLM_CHECK(std::isfinite(series.x[i]), "LineChart series '{}': x[{}] = {}", series.name, i,
                  series.x[i]);
      xlo = std::min(xlo, series.x[i]);
      xhi = std::max(xhi, series.x[i]);
      if (!usable(series.y[i])) continue;
      ylo = std::min(ylo, series.y[i]);
      yhi = std::max(yhi, series.y[i]);
    }
    names.push_back(series.name);
  }
  if (chart.reference && usable(*chart.reference)) {
    ylo = std::min(ylo, *chart.reference);
    yhi = std::max(yhi, *chart.reference);
  }
  if (!(xhi >= xlo)) xlo = 0, xhi = 1;                      // no points at all
  if (!(yhi >= ylo)) ylo = chart.log_y ? 1 : 0, yhi = ylo;  // no usable y
  const Scale xs = Scale::linear(xlo, xhi, 7);
  const Scale ys = chart.log_y ? Scale::logarithmic(ylo, yhi) : Scale::linear(ylo, yhi, 6);

  if (chart.reference && !chart.reference_label.empty()) names.push_back(chart.reference_label);
  const double pw = chart.plot_width, ph = chart.plot_height;
  const double left = 14 + (chart.y_label.empty() ? 0 : 20) + tick_label_width(ys) + 8;
  const double top = 14 + (chart.title.empty() ? 0 : 26) + 12;
  const double bottom = 24 + (chart.x_label.empty() ? 0 : 22) + 8;
  const double width = left + pw + 20 + legend_width(names) + 16;
  const double height = top + std::max(ph, 18.0 * double(names.size())) + bottom;
  Canvas c(width, height);

  if (!chart.title.empty()) c.text(width / 2, 14 + 17, chart.title, {.size = 16, .bold = true});
  if (!chart.y_label.empty())
    c.text(14 + 10, top + ph / 2, chart.y_label, {.size = 12, .rotate = -90});
  if (!chart.x_label.empty())
    c.text(left + pw / 2, top + ph + 24 + 18, chart.x_label, {.size = 12});

  const double y0 = top, y1 = top + ph;
  auto px = [&](double x) { return left + xs.fraction(x) * pw; };
  auto py = [&](double y) { return y1 - std::clamp(ys.fraction(y), 0.0, 1.0) * ph; };
  draw_y_axis(c, ys, left, left + pw, y0, y1);
  for (double t : xs.ticks) {
    c.line(px(t), y1, px(t), y1 + 4, "#555555", 1);
    c.text(px(t), y1 + 17, xs.label(t), {.size = 11});
  }
  c.line(left, y1, left + pw, y1, "#555555", 1);
  if (chart.reference && usable(*chart.reference))
    c.line(left, py(*chart.reference), left + pw, py(*chart.reference), "#c0392b", 1.5, "6 4");

  for (std::size_t j = 0; j < chart.series.size(); ++j) {
    const auto& series = chart.series[j];
    std::vector<std::pair<double, double>> run;  // a run of consecutive usable points
    auto flush = [&] {
      c.polyline(run, color(j), 2, "series");
      run.clear();
    };
    for (std::size_t i = 0; i < series.x.size(); ++i) {
      if (!usable(series.y[i])) {
        flush();
        continue;
      }
      run.emplace_back(px(series.x[i]), py(series.y[i]));
      if (chart.markers) c.circle(px(series.x[i]), py(series.y[i]), 2.8, color(j));
    }
    flush();
  }
  const double lx = left + pw + 20;
  draw_legend(c, lx, top,
              std::vector<std::string>(names.begin(), names.begin() + chart.series.size()), true);
  if (chart.reference && !chart.reference_label.empty()) {
    const double ly = top + 18.0 * double(chart.series.size());
    c.line(lx, ly + 6, lx + 16, ly + 6, "#c0392b", 1.5, "4 3");
    c.text(lx + 20, ly + 10.5, chart.reference_label, {.size = 12, .anchor = Anchor::start});
  }
  return c.str();
}

}  // namespace gfnlm
