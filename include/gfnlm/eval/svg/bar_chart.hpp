#pragma once
// Grouped bar chart (issue 6: accuracy of each method on 3, 4 and 5 operands): one group per
// x category, one coloured bar per series inside each group, optional error bars (e.g. the spread
// over seeds) and value labels.
#include <gfnlm/eval/svg/canvas.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace gfnlm {

struct BarSeries {
  std::string name;
  std::vector<double> values;  // one per group
  std::vector<double> errors;  // empty, or one half-width per group (drawn as value +- error)
};

struct GroupedBarChart {
  std::string title, x_label, y_label;
  std::vector<std::string> groups;
  std::vector<BarSeries> series;
  std::optional<double> y_min, y_max;  // data range to show (e.g. 0 and 100 for percentages)
  bool show_values = false;            // print each value above its bar
  int value_decimals = 1;
  double plot_height = 280;
};

inline std::string to_svg(const GroupedBarChart& chart) {
  using namespace svg;
  GFNLM_CHECK(!chart.groups.empty() && !chart.series.empty(),
              "GroupedBarChart '{}': needs at least one group and one series", chart.title);
  const std::size_t g = chart.groups.size(), s = chart.series.size();
  double lo = 0, hi = 0;
  std::vector<std::string> names;
  for (const auto& series : chart.series) {
    GFNLM_CHECK(series.values.size() == g, "GroupedBarChart series '{}': {} values for {} groups",
                series.name, series.values.size(), g);
    GFNLM_CHECK(series.errors.empty() || series.errors.size() == g,
                "GroupedBarChart series '{}': {} errors for {} groups", series.name,
                series.errors.size(), g);
    for (std::size_t i = 0; i < g; ++i) {
      const double v = series.values[i], e = series.errors.empty() ? 0 : series.errors[i];
      GFNLM_CHECK(std::isfinite(v) && std::isfinite(e) && e >= 0,
                  "GroupedBarChart series '{}': value {} +- {} in group '{}'", series.name, v, e,
                  chart.groups[i]);
      lo = std::min(lo, v - e);
      hi = std::max(hi, v + e);
    }
    names.push_back(series.name);
  }
  const Scale scale = Scale::linear(chart.y_min.value_or(lo), chart.y_max.value_or(hi), 6);

  // Bars at most 36 px wide; a group is as wide as its bars or its label, plus padding.
  double group_w = double(s) * 30 / 0.8;
  for (const auto& label : chart.groups) group_w = std::max(group_w, text_width(label, 12) + 20);
  const double bar = std::min(36.0, 0.8 * group_w / double(s));
  const double pw = std::max(group_w * double(g), 320.0), ph = chart.plot_height;
  group_w = pw / double(g);

  const double left = 14 + (chart.y_label.empty() ? 0 : 20) + tick_label_width(scale) + 8;
  const double top = 14 + (chart.title.empty() ? 0 : 26) + 16;
  const double bottom = 24 + (chart.x_label.empty() ? 0 : 22) + 8;
  const double legend_w = legend_width(names);
  const double width = left + pw + 20 + legend_w + 16;
  const double height = top + std::max(ph, 18.0 * double(names.size())) + bottom;
  Canvas c(width, height);

  if (!chart.title.empty()) c.text(width / 2, 14 + 17, chart.title, {.size = 16, .bold = true});
  if (!chart.y_label.empty())
    c.text(14 + 10, top + ph / 2, chart.y_label, {.size = 12, .rotate = -90});
  if (!chart.x_label.empty())
    c.text(left + pw / 2, top + ph + 24 + 18, chart.x_label, {.size = 12});

  const double y0 = top, y1 = top + ph;
  auto to_y = [&](double v) { return y1 - std::clamp(scale.fraction(v), 0.0, 1.0) * ph; };
  draw_y_axis(c, scale, left, left + pw, y0, y1);
  const double base = to_y(std::clamp(0.0, scale.lo, scale.hi));
  for (std::size_t i = 0; i < g; ++i) {
    const double gx = left + group_w * double(i);
    const double start = gx + (group_w - bar * double(s)) / 2;
    for (std::size_t j = 0; j < s; ++j) {
      const auto& series = chart.series[j];
      const double v = series.values[i], x = start + bar * double(j), y = to_y(v);
      c.rect(x + 1, std::min(y, base), bar - 2, std::abs(base - y), color(j), "bar");
      double end_y = y;  // the end of the bar or of its error bar, where the label goes
      if (!series.errors.empty() && series.errors[i] > 0) {
        const double e = series.errors[i], xm = x + bar / 2;
        const double ya = to_y(v + e), yb = to_y(v - e);
        c.line(xm, ya, xm, yb, "#222222", 1.2);
        c.line(xm - bar / 5, ya, xm + bar / 5, ya, "#222222", 1.2);
        c.line(xm - bar / 5, yb, xm + bar / 5, yb, "#222222", 1.2);
        end_y = v >= 0 ? ya : yb;
      }
      const double label_y = v >= 0 ? end_y - 4 : end_y + 13;  // baseline above / below
      if (chart.show_values)
        c.text(x + bar / 2, label_y, fmt::format("{:.{}f}", v, chart.value_decimals),
               {.size = std::min(10.0, bar / 2.6 + 2)});
    }
    c.text(gx + group_w / 2, y1 + 17, chart.groups[i], {.size = 12});
  }
  c.line(left, base, left + pw, base, "#555555", 1);
  draw_legend(c, left + pw + 20, top, names);
  return c.str();
}

}  // namespace gfnlm
