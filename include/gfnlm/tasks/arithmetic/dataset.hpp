#pragma once
// The arithmetic data sets (SPEC section 5, issue 6): train on 3-4 operand problems (a few worked
// rationales + 1000 question/answer pairs), test on 500 problems each of 3, 4 and 5 operands.
// The paper's own files (../shared/data/arithmetic, see its README) are used when present, so our
// table is comparable with the paper's; otherwise equivalent sets are generated with a fixed seed
// (5-operand test problems never occur in training: training has 3-4 operands only).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/tasks/arithmetic/problem.hpp>

#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace gfnlm::arithmetic {

struct Item {
  Problem problem;
  long answer = 0;  // num_sol (checked against the problem when read from a file)
};

struct Dataset {
  std::vector<Item> worked;    // with rationales (buffer seeds, few-shot demonstrations)
  std::vector<Item> train_qa;  // question/answer pairs, no rationale
  std::vector<Item> test3, test4, test5;
  std::string source;  // where the sets came from (for results.json)

  const std::vector<Item>& test(int operands) const {
    GFNLM_CHECK(operands >= 3 && operands <= 5, "Dataset::test: no {}-operand test set", operands);
    return operands == 3 ? test3 : operands == 4 ? test4 : test5;
  }
};

namespace detail {

// Just enough JSON for the paper's files: an array of flat objects whose values are strings
// (no escapes beyond \" and \\) or integers. Errors name the file and the byte offset.
class FlatJsonReader {
 public:
  FlatJsonReader(std::string text, std::string name)
      : s_(std::move(text)), name_(std::move(name)) {}

  // The whole text must be the array: anything after it but white space is an error.
  std::vector<std::map<std::string, std::string>> read_array() {
    std::vector<std::map<std::string, std::string>> out;
    expect('[');
    if (peek() == ']') {
      ++pos_;
    } else {
      for (;;) {
        out.push_back(read_object());
        const char c = next();
        if (c == ']') break;
        if (c != ',') bad("',' or ']'");
      }
    }
    skip();
    if (pos_ != s_.size()) bad("the end of the file after the array");
    return out;
  }

 private:
  std::map<std::string, std::string> read_object() {
    std::map<std::string, std::string> obj;
    expect('{');
    if (peek() == '}') return ++pos_, obj;
    for (;;) {
      std::string key = read_string();
      expect(':');
      std::string value = peek() == '"' ? read_string() : read_number();
      if (!obj.emplace(std::move(key), std::move(value)).second)
        bad("a key not already in this object");
      const char c = next();
      if (c == '}') break;
      if (c != ',') bad("',' or '}'");
    }
    return obj;
  }
  std::string read_string() {
    expect('"');
    std::string v;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      v += s_[pos_++];
    }
    if (pos_ >= s_.size()) bad("closing '\"'");
    ++pos_;
    return v;
  }
  std::string read_number() {
    skip();
    const std::size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    const std::size_t digits = pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    if (pos_ == digits) bad("a string or an integer");
    return s_.substr(start, pos_ - start);
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  char peek() {
    skip();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  char next() {
    const char c = peek();
    if (pos_ < s_.size()) ++pos_;
    return c;
  }
  void expect(char c) {
    if (next() != c) bad(std::string("'") + c + "'");
  }
  [[noreturn]] void bad(const std::string& what) {
    fail("{}: expected {} at byte {}", name_, what, pos_);
  }
  std::string s_, name_;
  std::size_t pos_ = 0;
};

}  // namespace detail

// Parses the text of one of the paper's files (`name` is the file, for errors): str_query
// (required, parsed), num_sol (required, an integer equal to the problem's value), str_rationale
// (optional, must equal the problem's left-to-right steps).
inline std::vector<Item> parse_items(std::string text, const std::string& name) {
  const auto rows = detail::FlatJsonReader(std::move(text), name).read_array();
  std::vector<Item> items;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto q = row.find("str_query"), sol = row.find("num_sol");
    GFNLM_CHECK(q != row.end() && sol != row.end(),
                "arithmetic: '{}' item {} lacks str_query or num_sol", name, i);
    const auto problem = parse_question(q->second);
    GFNLM_CHECK(problem.has_value(), "arithmetic: '{}' item {}: cannot parse str_query '{}'", name,
                i, q->second);
    long answer = 0;
    const auto& s = sol->second;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), answer);
    GFNLM_CHECK(!s.empty() && ec == std::errc() && end == s.data() + s.size(),
                "arithmetic: '{}' item {}: num_sol '{}' is not an integer", name, i, s);
    Item item{*problem, answer};
    GFNLM_CHECK(item.answer == problem->answer(),
                "arithmetic: '{}' item {}: num_sol {} but '{}' evaluates to {}", name, i,
                item.answer, q->second, problem->answer());
    if (const auto r = row.find("str_rationale"); r != row.end())
      GFNLM_CHECK(" " + r->second == rationale_actions_text(*problem),
                  "arithmetic: '{}' item {}: str_rationale '{}' is not the left-to-right steps",
                  name, i, r->second);
    items.push_back(std::move(item));
  }
  return items;
}

// Reads one of the paper's files (parse_items).
inline std::vector<Item> read_items(const std::filesystem::path& path) {
  std::ifstream is(path, std::ios::binary);
  GFNLM_CHECK(is.good(), "arithmetic: cannot open '{}'", path.string());
  std::stringstream ss;
  ss << is.rdbuf();
  return parse_items(ss.str(), path.string());
}

inline std::vector<Item> generate_items(int count, int min_operands, int max_operands, Rng& rng) {
  std::vector<Item> items;
  for (int i = 0; i < count; ++i) {
    const int n = min_operands + static_cast<int>(rng.below(max_operands - min_operands + 1));
    Problem p = random_problem(n, rng);
    const long a = p.answer();
    items.push_back({std::move(p), a});
  }
  return items;
}

// Sets like the paper's: 50 worked and 1000 question/answer pairs of 3-4 operands, 500 test
// problems each of 3, 4 and 5 operands, all from one seed.
inline Dataset generate_dataset(uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.worked = generate_items(50, 3, 4, rng);
  d.train_qa = generate_items(1000, 3, 4, rng);
  d.test3 = generate_items(500, 3, 3, rng);
  d.test4 = generate_items(500, 4, 4, rng);
  d.test5 = generate_items(500, 5, 5, rng);
  d.source = "generated (seed " + std::to_string(seed) + ")";
  return d;
}

// The paper's files from `dir` when all five are there, else generate_dataset(seed).
inline Dataset load_or_generate_dataset(const std::filesystem::path& dir, uint64_t seed) {
  const char* names[] = {"train_worked_50.json", "train_qa_1000.json", "test_3_operands.json",
                         "test_4_operands.json", "test_5_operands.json"};
  bool all = true;
  for (const char* n : names) all = all && std::filesystem::exists(dir / n);
  if (!all) return generate_dataset(seed);
  Dataset d;
  d.worked = read_items(dir / names[0]);
  d.train_qa = read_items(dir / names[1]);
  d.test3 = read_items(dir / names[2]);
  d.test4 = read_items(dir / names[3]);
  d.test5 = read_items(dir / names[4]);
  d.source = "paper files (" + dir.string() + ")";
  return d;
}

}  // namespace gfnlm::arithmetic
