#pragma once
// The arithmetic data sets (SPEC section 5, issue 6): train on 3-4 operand problems (a few worked
// rationales + 1000 question/answer pairs), test on 500 problems each of 3, 4 and 5 operands.
// The paper's own files (../shared/data/arithmetic, see its README) are used when present, so our
// table is comparable with the paper's; otherwise equivalent sets are generated with a fixed seed
// (5-operand test problems never occur in training: training has 3-4 operands only).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/io/strict_json.hpp>
#include <gfnlm/tasks/arithmetic/problem.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
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

// The paper's file as JSON: an array of objects, parsed strictly (io/strict_json.hpp: a key
// repeated inside one object is an error, since a file with two num_sol is not one we understand);
// errors name the file and the byte.
inline nlohmann::json parse_json_array(const std::string& text, const std::string& name) {
  auto doc = parse_strict_json(text, name);
  GFNLM_CHECK(doc.is_array(), "{}: the file holds a JSON {}, not an array of items", name,
              doc.type_name());
  return doc;
}

// A value that must be an integer: a JSON integer, or a string holding one.
inline std::optional<long> integer_value(const nlohmann::json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<long>::max()))
      return std::nullopt;
    return v.get<long>();
  }
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  long out = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return out;
}

}  // namespace detail

// Parses the text of one of the paper's files (`name` is the file, for errors): str_query
// (required, parsed), num_sol (required, an integer equal to the problem's value), str_rationale
// (optional, must equal the problem's left-to-right steps).
inline std::vector<Item> parse_items(const std::string& text, const std::string& name) {
  const auto rows = detail::parse_json_array(text, name);
  std::vector<Item> items;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    GFNLM_CHECK(row.is_object(), "arithmetic: '{}' item {} is a JSON {}, not an object", name, i,
                row.type_name());
    const auto q = row.find("str_query"), sol = row.find("num_sol");
    GFNLM_CHECK(q != row.end() && sol != row.end(),
                "arithmetic: '{}' item {} lacks str_query or num_sol", name, i);
    GFNLM_CHECK(q->is_string(), "arithmetic: '{}' item {}: str_query is a JSON {}, not a string",
                name, i, q->type_name());
    const auto& query = q->get_ref<const std::string&>();
    const auto problem = parse_question(query);
    GFNLM_CHECK(problem.has_value(), "arithmetic: '{}' item {}: cannot parse str_query '{}'", name,
                i, query);
    const auto answer = detail::integer_value(*sol);
    GFNLM_CHECK(answer.has_value(), "arithmetic: '{}' item {}: num_sol {} is not an integer", name,
                i, sol->is_string() ? "'" + sol->get<std::string>() + "'" : sol->dump());
    Item item{*problem, *answer};
    GFNLM_CHECK(item.answer == problem->answer(),
                "arithmetic: '{}' item {}: num_sol {} but '{}' evaluates to {}", name, i,
                item.answer, query, problem->answer());
    if (const auto r = row.find("str_rationale"); r != row.end()) {
      GFNLM_CHECK(r->is_string(),
                  "arithmetic: '{}' item {}: str_rationale is a JSON {}, not a string", name, i,
                  r->type_name());
      GFNLM_CHECK(" " + r->get<std::string>() == rationale_actions_text(*problem),
                  "arithmetic: '{}' item {}: str_rationale '{}' is not the left-to-right steps",
                  name, i, r->get<std::string>());
    }
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
