#pragma once
// Histograms side by side (issue 5: base, PPO, SFT and GFlowNet answer frequencies over 0..100):
// one panel per sampler, a bar per category, one shared y-axis so heights compare across panels,
// and an optional horizontal reference line such as the uniform level 1/101.
#include <gfnlm/eval/svg/canvas.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace gfnlm {

struct HistogramPanel {
  std::string title;
  std::vector<double> values;  // one per category, finite and >= 0
};

struct HistogramChart {
  std::string title;
  std::vector<std::string> categories;  // bar labels, shared by every panel
  std::vector<HistogramPanel> panels;
  std::string x_label, y_label;
  std::optional<double> reference;  // horizontal line at this value in every panel
  std::string reference_label;      // its legend entry, e.g. "uniform 1/101"
  std::optional<double> y_max;      // caps the axis; taller bars are clipped, with a dark cap
  int label_every = 0;              // category label stride; 0: as dense as fits without overlap
  double panel_width = 300, panel_height = 220;
};

inline std::string to_svg(const HistogramChart& chart) {
  using namespace svg;
  GFNLM_CHECK(!chart.panels.empty() && !chart.categories.empty(),
              "HistogramChart '{}': needs at least one panel and one category", chart.title);
  const std::size_t k = chart.categories.size();
  double top_value = chart.reference.value_or(0);
  for (const auto& panel : chart.panels) {
    GFNLM_CHECK(panel.values.size() == k, "HistogramChart panel '{}': {} values for {} categories",
                panel.title, panel.values.size(), k);
    for (double v : panel.values) {
      GFNLM_CHECK(std::isfinite(v) && v >= 0, "HistogramChart panel '{}': value {} is not >= 0",
                  panel.title, v);
      top_value = std::max(top_value, v);
    }
  }
  const Scale scale = Scale::linear(0, chart.y_max.value_or(top_value), 6);

  // Margins from the content: tick labels, axis titles, the chart title and the legend row.
  const double pw = chart.panel_width, ph = chart.panel_height, gap = 24;
  const double left = 14 + (chart.y_label.empty() ? 0 : 20) + tick_label_width(scale) + 8;
  const bool legend = chart.reference && !chart.reference_label.empty();
  const double top = 14 + (chart.title.empty() ? 0 : 26) + (legend ? 20 : 0) + 22;
  // Category labels: many bins (numbers 0..100) are thinned to the smallest stride among 1, 2,
  // 5, 10, 20, 50, ... that leaves room; a few named bins are all labelled, slanted if need be.
  const std::size_t k_named = 40;
  const double slot = pw / double(k);
  double widest = 0;
  for (const auto& label : chart.categories) widest = std::max(widest, text_width(label, 10));
  int stride = chart.label_every;
  bool slanted = false;
  if (stride <= 0) {
    const int need = int(std::ceil((widest + 6) / slot));
    slanted = need > 1 && k <= k_named;
    stride = slanted ? 1 : 0;
    for (int base = 1; stride <= 0; base *= 10)
      for (int m : {1, 2, 5, 10})
        if (stride <= 0 && base * m >= need) stride = base * m;
  }
  const double slant = 35,
               label_drop = slanted ? 10 + widest * std::sin(slant * 3.14159265 / 180) : 24;
  const double bottom = label_drop + (chart.x_label.empty() ? 0 : 22) + 8;
  const double n = double(chart.panels.size());
  const double width = left + n * pw + (n - 1) * gap + 16, height = top + ph + bottom;
  Canvas c(width, height);

  if (!chart.title.empty()) c.text(width / 2, 14 + 17, chart.title, {.size = 16, .bold = true});
  if (legend) {
    const double lx = width - 16 - text_width(chart.reference_label, 12) - 30;
    const double ly = top - 22 - 12;
    c.line(lx, ly, lx + 24, ly, "#c0392b", 1.5, "6 4");
    c.text(lx + 30, ly + 4, chart.reference_label, {.size = 12, .anchor = Anchor::start});
  }
  if (!chart.y_label.empty())
    c.text(14 + 10, top + ph / 2, chart.y_label, {.size = 12, .rotate = -90});
  if (!chart.x_label.empty())
    c.text(left + (width - 16 - left) / 2, top + ph + label_drop + 18, chart.x_label, {.size = 12});

  const double y0 = top, y1 = top + ph;
  auto to_y = [&](double v) { return y1 - std::clamp(scale.fraction(v), 0.0, 1.0) * ph; };
  for (std::size_t p = 0; p < chart.panels.size(); ++p) {
    const auto& panel = chart.panels[p];
    const double x0 = left + double(p) * (pw + gap);
    c.text(x0 + pw / 2, y0 - 8, panel.title, {.size = 13, .bold = true});
    draw_y_axis(c, scale, x0, x0 + pw, y0, y1, p == 0);
    const double bar = slot * (k > 30 ? 0.85 : 0.75);
    for (std::size_t i = 0; i < k; ++i) {
      const double x = x0 + slot * double(i) + (slot - bar) / 2, v = panel.values[i];
      const double y = to_y(v);
      c.rect(x, y, bar, y1 - y, color(p), "bar");
      if (v > scale.hi) c.line(x, y0, x + bar, y0, "#111111", 2);  // clipped by y_max
    }
    for (std::size_t i = 0; i < k; i += std::size_t(stride)) {
      const double x = x0 + slot * (double(i) + 0.5);
      c.line(x, y1, x, y1 + 4, "#555555", 1);
      if (slanted)
        c.text(x + 3, y1 + 12, chart.categories[i],
               {.size = 10, .anchor = Anchor::end, .rotate = -slant});
      else
        c.text(x, y1 + 16, chart.categories[i], {.size = 10});
    }
    c.line(x0, y1, x0 + pw, y1, "#555555", 1);
    if (chart.reference)
      c.line(x0, to_y(*chart.reference), x0 + pw, to_y(*chart.reference), "#c0392b", 1.5, "6 4");
  }
  return c.str();
}

}  // namespace gfnlm
