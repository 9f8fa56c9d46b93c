#pragma once
// The SUBJ data set (Pang & Lee 2004; the paper's section 4.3): movie-review sentences labelled
// objective or subjective, in the split of the paper's own code (../shared/data/subj, see its
// README): train.jsonl (8,000), test.jsonl (2,000) and the few-label subsets
// train.{10,20,50}.jsonl. The reader is strict: a malformed line is an error naming the file and
// the line, never skipped, since a silently dropped or mislabelled sentence shifts the accuracies
// we compare with the paper.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/io/strict_json.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm::subjectivity {

struct Example {
  std::string text;
  int label = 0;  // 0 objective, 1 subjective (index into kLabelNames)
};

inline constexpr std::array<std::string_view, 2> kLabelNames{"objective", "subjective"};

struct Dataset {
  std::vector<Example> train, test;
  std::string source;  // where the sets came from (for results.json)
};

namespace detail {

inline bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

// A JSON value as it appears in the file, cut short so a stray object cannot flood the message.
inline std::string shown(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() <= 60 ? s : s.substr(0, 57) + "...";
}

// One line as a JSON object, parsed strictly (io/strict_json.hpp: a key repeated inside one
// object is an error, since a line with two labels is not one we understand).
inline nlohmann::json parse_line(const std::string& line, const std::string& where) {
  auto row = parse_strict_json(line, where);
  GFNLM_CHECK(row.is_object(), "{}: a JSON {}, not an object", where, row.type_name());
  return row;
}

inline Example parse_example(const nlohmann::json& row, const std::string& where) {
  const auto text = row.find("text");
  GFNLM_CHECK(text != row.end(), "{}: no \"text\"", where);
  GFNLM_CHECK(text->is_string(), "{}: \"text\" is a JSON {}, not a string", where,
              text->type_name());
  GFNLM_CHECK(!blank(text->get_ref<const std::string&>()),
              "{}: \"text\" is empty or only whitespace", where);
  const auto label = row.find("label");
  GFNLM_CHECK(label != row.end(), "{}: no \"label\"", where);
  // Only the integers themselves: "1", 1.0 or true would mean a writer other than the one we know.
  GFNLM_CHECK(label->is_number_integer() && (*label == 0 || *label == 1),
              "{}: \"label\" is {}, not the integer 0 or 1", where, shown(*label));
  Example ex{text->get<std::string>(), label->get<int>()};
  if (const auto name = row.find("label_text"); name != row.end()) {
    GFNLM_CHECK(
        name->is_string() && std::find(kLabelNames.begin(), kLabelNames.end(),
                                       name->get_ref<const std::string&>()) != kLabelNames.end(),
        "{}: \"label_text\" is {}, not \"objective\" or \"subjective\"", where, shown(*name));
    GFNLM_CHECK(name->get_ref<const std::string&>() == kLabelNames[ex.label],
                "{}: \"label_text\" is {} but \"label\" is {} ({})", where, shown(*name), ex.label,
                kLabelNames[ex.label]);
  }
  return ex;
}

}  // namespace detail

// Reads one JSONL file: an object a line with "text" (a non-blank string), "label" (the integer 0
// or 1) and optionally "label_text" (its name); other keys are ignored, blank lines skipped.
inline std::vector<Example> read_jsonl(const std::filesystem::path& file) {
  const std::string name = file.string();
  GFNLM_CHECK(std::filesystem::exists(file), "subjectivity: '{}' does not exist", name);
  GFNLM_CHECK(!std::filesystem::is_directory(file), "subjectivity: '{}' is a folder, not a file",
              name);
  std::ifstream is(file, std::ios::binary);
  GFNLM_CHECK(is.good(), "subjectivity: cannot open '{}'", name);
  std::vector<Example> examples;
  std::string line;
  for (long number = 1; std::getline(is, line); ++number) {
    if (detail::blank(line)) continue;
    const std::string where = fmt::format("subjectivity: '{}' line {}", name, number);
    examples.push_back(detail::parse_example(detail::parse_line(line, where), where));
  }
  GFNLM_CHECK(!is.bad(), "subjectivity: cannot read '{}'", name);
  GFNLM_CHECK(!examples.empty(), "subjectivity: '{}' holds no examples", name);
  return examples;
}

// The folder's train.jsonl and test.jsonl.
inline Dataset read_subj(const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  GFNLM_CHECK(fs::is_directory(folder), "subjectivity: data folder '{}' does not exist",
              folder.string());
  std::string missing;
  for (const char* n : {"train.jsonl", "test.jsonl"})
    if (!fs::exists(folder / n)) missing += (missing.empty() ? "" : " and ") + std::string(n);
  GFNLM_CHECK(missing.empty(), "subjectivity: data folder '{}' lacks {}", folder.string(), missing);
  return {read_jsonl(folder / "train.jsonl"), read_jsonl(folder / "test.jsonl"),
          "SUBJ (" + folder.string() + ")"};
}

// The training examples a k-label run may see:
//  - k == 0: all of train;
//  - folder/train.<k>.jsonl when it exists (the paper's own subsets, k = 10, 20, 50; not balanced:
//    train.10 has 3 subjective), so our few-label numbers are comparable with the paper's; it must
//    hold k examples. An empty folder looks for no file;
//  - k == train.size(): all of train;
//  - otherwise k examples of train drawn without replacement from Rng(seed), k / 2 of each class
//    (for odd k the class of the extra one is drawn too), returned in train's order. A class with
//    too few examples is an error.
inline std::vector<Example> labelled_subset(const Dataset& d, const std::filesystem::path& folder,
                                            int k, uint64_t seed) {
  GFNLM_CHECK(k >= 0 && static_cast<std::size_t>(k) <= d.train.size(),
              "subjectivity: labelled_subset: k = {} is not in [0, {}] (the training set's size)",
              k, d.train.size());
  if (k == 0) return d.train;
  if (const auto file = folder / ("train." + std::to_string(k) + ".jsonl");
      !folder.empty() && std::filesystem::exists(file)) {
    auto subset = read_jsonl(file);
    GFNLM_CHECK(subset.size() == static_cast<std::size_t>(k),
                "subjectivity: '{}' holds {} examples, not {}", file.string(), subset.size(), k);
    return subset;
  }
  if (static_cast<std::size_t>(k) == d.train.size()) return d.train;

  Rng rng(seed);
  std::array<int, 2> want{k / 2, k / 2};
  if (k % 2 == 1) ++want[rng.below(2)];
  std::vector<std::size_t> chosen;
  for (int label = 0; label < 2; ++label) {
    std::vector<std::size_t> pool;
    for (std::size_t i = 0; i < d.train.size(); ++i)
      if (d.train[i].label == label) pool.push_back(i);
    GFNLM_CHECK(pool.size() >= static_cast<std::size_t>(want[label]),
                "subjectivity: labelled_subset: k = {} needs {} {} examples, train has {}", k,
                want[label], kLabelNames[label], pool.size());
    for (int j = 0; j < want[label];
         ++j) {  // the first want[label] steps of a Fisher-Yates shuffle
      std::swap(pool[j], pool[j + rng.below(pool.size() - j)]);
      chosen.push_back(pool[j]);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  std::vector<Example> subset;
  for (std::size_t i : chosen) subset.push_back(d.train[i]);
  return subset;
}

}  // namespace gfnlm::subjectivity
