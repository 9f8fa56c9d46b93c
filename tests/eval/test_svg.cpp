// SVG charts: well-formed XML, titles and labels escaped and present, one bar per value.
#include <gfnlm/core/rng.hpp>
#include <gfnlm/eval/svg.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// A small XML well-formedness check: balanced, properly nested tags, quoted attributes, and
// every '&' starting one of the entities escape_xml produces. Returns "" or what is wrong.
std::string xml_problem(const std::string& doc) {
  std::vector<std::string> open;
  std::size_t i = 0;
  while (i < doc.size()) {
    if (doc[i] == '&') {
      bool known = false;
      for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
        known = known || doc.compare(i, std::string(e).size(), e) == 0;
      if (!known) return "bare & at " + std::to_string(i);
      ++i;
      continue;
    }
    if (doc[i] == '>') return "stray > at " + std::to_string(i);
    if (doc[i] != '<') {
      ++i;
      continue;
    }
    if (doc.compare(i, 5, "<?xml") == 0) {
      const auto end = doc.find("?>", i);
      if (end == std::string::npos) return "unterminated declaration";
      i = end + 2;
      continue;
    }
    // Find the tag's end, skipping quoted attribute values.
    std::size_t j = i + 1;
    bool quoted = false;
    while (j < doc.size() && (quoted || doc[j] != '>')) {
      if (doc[j] == '"') quoted = !quoted;
      if (doc[j] == '<' && !quoted) return "< inside a tag at " + std::to_string(j);
      ++j;
    }
    if (j >= doc.size()) return "unterminated tag at " + std::to_string(i);
    const std::string tag = doc.substr(i + 1, j - i - 1);
    i = j + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1))
        return "mismatched </" + tag.substr(1) + ">";
      open.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" /"));
    if (tag.back() != '/') open.push_back(name);
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  return "";
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1))
    ++n;
  return n;
}

std::filesystem::path sample_dir() {
  const auto dir = std::filesystem::temp_directory_path() / "gfnlm_svg_samples";
  std::filesystem::create_directories(dir);
  return dir;
}

// Answer frequencies like issue 5's four samplers: skewed, skewed, near uniform, uniform.
gfnlm::HistogramChart integer_histograms() {
  gfnlm::Rng rng(5);
  gfnlm::HistogramChart chart;
  chart.title = "Answers to \"a random integer between 0 & 100\"";
  chart.x_label = "integer";
  chart.y_label = "frequency";
  chart.reference = 1.0 / 101;
  chart.reference_label = "uniform 1/101";
  for (int v = 0; v <= 100; ++v) chart.categories.push_back(std::to_string(v));
  const std::vector<int> favourites{7, 42, 37, 50, 69, 73, 77, 100, 10, 20, 30};
  for (const char* name : {"base", "PPO", "SFT", "GFlowNet"}) {
    std::vector<double> counts(101, 0);
    const std::string method = name;
    for (int s = 0; s < 10000; ++s) {
      const bool skewed = (method == "base" || method == "PPO") && rng.uniform() < 0.7;
      const int v = skewed ? favourites[rng.below(favourites.size())] : int(rng.below(101));
      counts[v] += 1;
    }
    for (double& c : counts) c /= 10000;
    chart.panels.push_back({name, counts});
  }
  return chart;
}

gfnlm::GroupedBarChart arithmetic_bars() {
  gfnlm::GroupedBarChart chart;
  chart.title = "Integer arithmetic: accuracy (%)";
  chart.y_label = "accuracy (%)";
  chart.x_label = "number of operands";
  chart.groups = {"3", "4", "5 (OOD)"};
  chart.series = {{"zero-shot", {10.2, 5.1, 1.3}, {1.0, 0.8, 0.5}},
                  {"few-shot", {40.5, 16.0, 6.2}, {2.0, 1.5, 1.0}},
                  {"SFT", {72.1, 19.6, 12.8}, {1.5, 2.2, 1.1}},
                  {"PPO", {30.6, 13.7, 5.6}, {}},
                  {"GFlowNet", {95.2, 75.4, 40.7}, {0.8, 2.5, 3.1}}};
  chart.y_min = 0;
  chart.y_max = 100;
  chart.show_values = true;
  return chart;
}

gfnlm::LineChart kl_lines() {
  gfnlm::LineChart chart;
  chart.title = "KL(target || q) during training";
  chart.x_label = "step";
  chart.y_label = "KL (nats)";
  chart.log_y = true;
  chart.markers = true;
  chart.reference = 0.01;
  chart.reference_label = "target 0.01";
  gfnlm::LineSeries a{"ModifiedSubTB", {}, {}}, b{"TB", {}, {}};
  for (int step = 0; step <= 2000; step += 100) {
    a.x.push_back(step);
    a.y.push_back(3.0 * std::exp(-step / 250.0) + 1e-3);
    b.x.push_back(step);
    b.y.push_back(step == 1000 ? 0.0 : 2.0 * std::exp(-step / 400.0) + 2e-3);  // 0: a gap
  }
  chart.series = {a, b};
  return chart;
}

}  // namespace

TEST_CASE("escape_xml escapes the five specials and drops control characters", "[eval]") {
  CHECK(gfnlm::escape_xml("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  CHECK(gfnlm::escape_xml(std::string("x\x01y\tz")) == "xy\tz");
  CHECK(xml_problem("<a><b/></a>").empty());
  CHECK_FALSE(xml_problem("<a><b></a>").empty());  // the checker itself can fail
  CHECK_FALSE(xml_problem("<a>x & y</a>").empty());
}

TEST_CASE("nice scales", "[eval]") {
  const auto s = gfnlm::svg::Scale::linear(0, 0.0297, 6);
  CHECK(s.lo == 0);
  CHECK(s.hi >= 0.0297);
  CHECK(s.ticks.size() >= 4);
  CHECK(s.ticks.size() <= 8);
  CHECK(s.ticks[1] - s.ticks[0] == Approx(0.005));
  CHECK(s.label(s.ticks[1]) == "0.005");
  const auto l = gfnlm::svg::Scale::logarithmic(2e-4, 3);
  CHECK(l.lo == Approx(1e-4));
  CHECK(l.hi == Approx(10));
  CHECK(l.fraction(1e-4) == Approx(0));
  CHECK(l.fraction(1e-2) == Approx(0.4));
  CHECK(l.label(1e-4) == "1e-4");
  CHECK(l.label(0.01) == "0.01");
}

TEST_CASE("histograms side by side", "[eval]") {
  const auto chart = integer_histograms();
  const std::string svg = gfnlm::to_svg(chart);
  INFO(xml_problem(svg));
  CHECK(xml_problem(svg).empty());
  CHECK(count(svg, "class=\"bar\"") == 4 * 101);
  CHECK(svg.find("Answers to &quot;a random integer between 0 &amp; 100&quot;") !=
        std::string::npos);
  for (const char* t : {">base<", ">PPO<", ">SFT<", ">GFlowNet<", ">uniform 1/101<", ">integer<",
                        ">frequency<", ">100<", ">50<"})
    CHECK(svg.find(t) != std::string::npos);
  // Category labels thinned to every 10th: 0, 10, ..., 100 once per panel (11 x 4).
  CHECK(count(svg, "font-size=\"10.0\"") == 11 * 4);
  gfnlm::write_svg(sample_dir() / "histograms.svg", svg);

  // A few named categories are all labelled (slanted when they do not fit), never thinned.
  gfnlm::HistogramChart named;
  named.categories = {"zero", "one", "two", "three or more", "invalid answer"};
  named.panels = {{"a", {1, 2, 3, 4, 5}}, {"b", {5, 4, 3, 2, 1}}};
  const std::string named_svg = gfnlm::to_svg(named);
  CHECK(xml_problem(named_svg).empty());
  CHECK(count(named_svg, "class=\"bar\"") == 10);
  CHECK(count(named_svg, ">three or more<") == 2);
  CHECK(count(named_svg, "rotate(-35.0") == 10);

  auto bad = chart;
  bad.panels[1].values.pop_back();
  CHECK_THROWS_AS(gfnlm::to_svg(bad), gfnlm::Error);
  bad = chart;
  bad.panels[0].values[3] = std::nan("");
  CHECK_THROWS_AS(gfnlm::to_svg(bad), gfnlm::Error);
}

TEST_CASE("grouped bar chart with error bars", "[eval]") {
  const auto chart = arithmetic_bars();
  const std::string svg = gfnlm::to_svg(chart);
  INFO(xml_problem(svg));
  CHECK(xml_problem(svg).empty());
  CHECK(count(svg, "class=\"bar\"") == 5 * 3);
  for (const char* t : {">Integer arithmetic: accuracy (%)<", ">GFlowNet<", ">5 (OOD)<", ">95.2<",
                        ">75.4<", ">40.7<", ">number of operands<"})
    CHECK(svg.find(t) != std::string::npos);
  gfnlm::write_svg(sample_dir() / "bars.svg", svg);

  auto bad = chart;
  bad.series[0].errors = {1.0};
  CHECK_THROWS_AS(gfnlm::to_svg(bad), gfnlm::Error);
}

TEST_CASE("line chart with a log y-axis and a gap", "[eval]") {
  const auto chart = kl_lines();
  const std::string svg = gfnlm::to_svg(chart);
  INFO(xml_problem(svg));
  CHECK(xml_problem(svg).empty());
  // TB's zero at step 1000 cannot be drawn on a log axis: its line breaks into two runs.
  CHECK(count(svg, "class=\"series\"") == 3);
  for (const char* t : {">KL(target || q) during training<", ">ModifiedSubTB<", ">TB<",
                        ">target 0.01<", ">0.001<", ">10<", ">step<"})
    CHECK(svg.find(t) != std::string::npos);
  gfnlm::write_svg(sample_dir() / "lines.svg", svg);

  auto linear = chart;
  linear.log_y = false;
  linear.markers = false;
  const std::string flat = gfnlm::to_svg(linear);
  CHECK(xml_problem(flat).empty());
  CHECK(count(flat, "class=\"series\"") == 2);  // zero is drawable on a linear axis
  CHECK(count(flat, "<circle") == 0);

  auto bad = chart;
  bad.series[0].y.pop_back();
  CHECK_THROWS_AS(gfnlm::to_svg(bad), gfnlm::Error);
}

TEST_CASE("write_svg writes the text atomically", "[eval]") {
  const auto path = sample_dir() / "roundtrip.svg";
  const std::string svg = gfnlm::to_svg(arithmetic_bars());
  gfnlm::write_svg(path, svg);
  std::ifstream in(path, std::ios::binary);
  std::stringstream read;
  read << in.rdbuf();
  CHECK(read.str() == svg);
  CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));
}
