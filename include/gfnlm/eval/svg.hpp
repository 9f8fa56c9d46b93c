#pragma once
// Dependency-free SVG charts for the examples' figures (STYLE: pictures as SVG): histograms side
// by side, grouped bar charts with error bars, and line plots with an optional log y-axis. Each
// chart is a plain struct rendered by to_svg(); write_svg() saves the text atomically.
#include <gfnlm/eval/svg/bar_chart.hpp>
#include <gfnlm/eval/svg/canvas.hpp>
#include <gfnlm/eval/svg/histograms.hpp>
#include <gfnlm/eval/svg/line_chart.hpp>
