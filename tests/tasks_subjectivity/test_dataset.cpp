// The SUBJ data layer: every malformed line is an error naming the file, the line and the value;
// a good file reads back exactly; on the real data (skipped with a warning where ../shared lacks
// it) the sizes and class counts the paper's table rests on, and the k-label subsets.
#include <gfnlm/tasks/subjectivity/dataset.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

using namespace gfnlm;
using namespace gfnlm::subjectivity;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

// A fresh folder per test case (pid and a counter: ctest may run test cases side by side).
fs::path temp_folder() {
  static int count = 0;
  const auto dir = fs::temp_directory_path() /
                   ("gfnlm_subj_" + std::to_string(::getpid()) + "_" + std::to_string(count++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

fs::path write(const fs::path& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name, std::ios::binary) << text;
  return dir / name;
}

const std::string kGood =
    R"({"text": "a plain plot summary .", "label": 0, "label_text": "objective"})";

const fs::path kData = fs::path(GFNLM_SHARED_DIR) / "data/subj";

}  // namespace

TEST_CASE("subjectivity: a good file reads back exactly, blank lines skipped",
          "[tasks_subjectivity]") {
  const auto dir = temp_folder();
  const auto file =
      write(dir, "good.jsonl",
            "\n" + kGood + "\n  \t\r\n" +
                R"({"label": 1, "text": "  \"wow\" , caf\u00e9 \u2014 great !  ", "extra": [1]})" +
                "\r\n\n" + R"({"text":"x","label":1,"label_text":"subjective"})");  // no final \n
  const auto got = read_jsonl(file);
  REQUIRE(got.size() == 3);
  CHECK(got[0].text == "a plain plot summary .");
  CHECK(got[0].label == 0);
  CHECK(got[1].text == "  \"wow\" , caf\xc3\xa9 \xe2\x80\x94 great !  ");
  CHECK(got[1].label == 1);
  CHECK(got[2].text == "x");
  CHECK(got[2].label == 1);
  CHECK(kLabelNames[got[2].label] == "subjective");
  fs::remove_all(dir);
}

TEST_CASE("subjectivity: each malformed line is an error naming the file, line and value",
          "[tasks_subjectivity]") {
  const auto dir = temp_folder();
  // The bad line is line 3 behind a good line and a blank one, so the count includes blank lines.
  const auto bad = [&](const std::string& line) {
    return write(dir, "bad.jsonl", kGood + "\n\n" + line + "\n" + kGood + "\n");
  };
  const std::string at = "'" + (dir / "bad.jsonl").string() + "' line 3";
  const auto fails = [&](const std::string& line, const std::string& what) {
    const auto file = bad(line);
    INFO(line);
    REQUIRE_THROWS_AS(read_jsonl(file), gfnlm::Error);
    REQUIRE_THROWS_WITH(read_jsonl(file), Contains(at) && Contains(what));
  };
  fails(R"({"text": "a", "label": 0)", "not valid JSON at byte");
  fails(R"({"text": "a", "label": 0} junk)", "not valid JSON at byte");
  fails("{\"text\": \"\xff\", \"label\": 0}", "not valid JSON");  // not UTF-8
  fails(R"({"text": "a", "label": 1e400})", "not valid JSON");    // nlohmann's out_of_range
  fails(R"(["text", "a"])", "a JSON array, not an object");
  fails(R"("text")", "a JSON string, not an object");
  fails(R"({"label": 0})", "no \"text\"");
  fails(R"({"text": 5, "label": 0})", "\"text\" is a JSON number, not a string");
  fails(R"({"text": null, "label": 0})", "\"text\" is a JSON null, not a string");
  fails(R"({"text": "", "label": 0})", "\"text\" is empty or only whitespace");
  fails(R"({"text": " \t ", "label": 0})", "\"text\" is empty or only whitespace");
  fails(R"({"text": "a"})", "no \"label\"");
  fails(R"({"text": "a", "label": 2})", "\"label\" is 2, not the integer 0 or 1");
  fails(R"({"text": "a", "label": -1})", "\"label\" is -1, not the integer 0 or 1");
  fails(R"({"text": "a", "label": "1"})", "\"label\" is \"1\", not the integer 0 or 1");
  fails(R"({"text": "a", "label": 0.5})", "\"label\" is 0.5, not the integer 0 or 1");
  fails(R"({"text": "a", "label": 1.0})", "\"label\" is 1.0, not the integer 0 or 1");
  fails(R"({"text": "a", "label": true})", "\"label\" is true, not the integer 0 or 1");
  fails(R"({"text": "a", "label": null})", "\"label\" is null, not the integer 0 or 1");
  fails(R"({"text": "a", "label": 18446744073709551615})",
        "\"label\" is 18446744073709551615, not the integer 0 or 1");
  fails(R"({"text": "a", "label": 0, "label_text": "subjective"})",
        "\"label_text\" is \"subjective\" but \"label\" is 0 (objective)");
  fails(R"({"text": "a", "label": 1, "label_text": "objective"})",
        "\"label_text\" is \"objective\" but \"label\" is 1 (subjective)");
  fails(R"({"text": "a", "label": 1, "label_text": "Subjective"})",
        "\"label_text\" is \"Subjective\", not \"objective\" or \"subjective\"");
  fails(R"({"text": "a", "label": 1, "label_text": 1})",
        "\"label_text\" is 1, not \"objective\" or \"subjective\"");
  fails(R"({"text": "a", "label": 0, "label": 1})", "key 'label' appears twice in one object");
  fails(R"({"text": "a", "text": "b", "label": 1})", "key 'text' appears twice in one object");
  fails(R"({"text": "a", "label": 1, "meta": {"k": 1, "k": 2}})",
        "key 'k' appears twice in one object");
  // A long offending value is cut short rather than flooding the message.
  const auto file = bad(R"({"text": "a", "label": ")" + std::string(500, 'z') + "\"}");
  REQUIRE_THROWS_WITH(read_jsonl(file),
                      Contains(at) && Contains("zzz...") && !Contains(std::string(100, 'z')));
  fs::remove_all(dir);
}

TEST_CASE("subjectivity: missing, unreadable and empty files are errors naming them",
          "[tasks_subjectivity]") {
  const auto dir = temp_folder();
  const auto missing = dir / "nope.jsonl";
  REQUIRE_THROWS_WITH(read_jsonl(missing), Contains("'" + missing.string() + "' does not exist"));
  REQUIRE_THROWS_WITH(read_jsonl(dir), Contains("'" + dir.string() + "' is a folder"));
  const auto empty = write(dir, "empty.jsonl", "");
  REQUIRE_THROWS_WITH(read_jsonl(empty), Contains("'" + empty.string() + "' holds no examples"));
  const auto blank = write(dir, "blank.jsonl", "\n  \n\t\r\n");
  REQUIRE_THROWS_WITH(read_jsonl(blank), Contains("'" + blank.string() + "' holds no examples"));
  if (::geteuid() != 0) {  // root reads a file whatever its mode
    const auto locked = write(dir, "locked.jsonl", kGood + "\n");
    fs::permissions(locked, fs::perms::none);
    REQUIRE_THROWS_WITH(read_jsonl(locked), Contains("cannot open '" + locked.string() + "'"));
  }

  REQUIRE_THROWS_WITH(read_subj(dir / "absent"),
                      Contains("data folder '" + (dir / "absent").string() + "' does not exist"));
  REQUIRE_THROWS_WITH(read_subj(dir), Contains("lacks train.jsonl and test.jsonl"));
  write(dir, "train.jsonl", kGood + "\n");
  REQUIRE_THROWS_WITH(read_subj(dir), Contains("'" + dir.string() + "' lacks test.jsonl"));
  write(dir, "test.jsonl", "{}\n");
  REQUIRE_THROWS_WITH(read_subj(dir),
                      Contains("'" + (dir / "test.jsonl").string() + "' line 1: no \"text\""));
  fs::remove_all(dir);
}

TEST_CASE("subjectivity: labelled_subset on a small training set", "[tasks_subjectivity]") {
  const auto dir = temp_folder();
  Dataset d;
  for (int i = 0; i < 30; ++i) d.train.push_back({"sentence " + std::to_string(i), i % 3 == 0});
  // 10 subjective (i % 3 == 0), 20 objective.
  CHECK(labelled_subset(d, dir, 0, 1).size() == 30);
  CHECK(labelled_subset(d, dir, 30, 1).size() == 30);
  REQUIRE_THROWS_WITH(labelled_subset(d, dir, -1, 1), Contains("k = -1 is not in [0, 30]"));
  REQUIRE_THROWS_WITH(labelled_subset(d, dir, 31, 1), Contains("k = 31 is not in [0, 30]"));
  REQUIRE_THROWS_WITH(labelled_subset(d, dir, 24, 1),
                      Contains("k = 24 needs 12 subjective examples, train has 10"));

  const auto count = [](const std::vector<Example>& s, int label) {
    return std::count_if(s.begin(), s.end(), [&](const Example& e) { return e.label == label; });
  };
  const auto s = labelled_subset(d, dir, 20, 7);
  REQUIRE(s.size() == 20);
  CHECK(count(s, 0) == 10);
  CHECK(count(s, 1) == 10);
  const auto odd = labelled_subset(d, dir, 7, 7);
  REQUIRE(odd.size() == 7);
  CHECK(std::abs(count(odd, 0) - count(odd, 1)) == 1);
  std::set<std::string> texts;
  for (const auto& e : labelled_subset(d, dir, 19, 3)) texts.insert(e.text);
  CHECK(texts.size() == 19);  // without replacement

  // A file for k is used as is (the paper's subsets are not balanced), and must hold k examples.
  write(dir, "train.4.jsonl",
        kGood + "\n" + kGood + "\n" + kGood + "\n" + R"({"text": "s", "label": 1})" + "\n");
  const auto from_file = labelled_subset(d, dir, 4, 1);
  REQUIRE(from_file.size() == 4);
  CHECK(from_file[0].text == "a plain plot summary .");
  CHECK(count(from_file, 0) == 3);
  CHECK(labelled_subset(d, fs::path(), 4, 1).size() == 4);  // no folder: drawn
  CHECK(labelled_subset(d, fs::path(), 4, 1)[0].text != "a plain plot summary .");
  write(dir, "train.6.jsonl", kGood + "\n");
  REQUIRE_THROWS_WITH(
      labelled_subset(d, dir, 6, 1),
      Contains("'" + (dir / "train.6.jsonl").string() + "' holds 1 examples, not 6"));
  fs::remove_all(dir);
}

TEST_CASE("subjectivity: the real SUBJ split", "[tasks_subjectivity]") {
  if (!fs::exists(kData / "train.jsonl") || !fs::exists(kData / "test.jsonl")) {
    WARN("skipping: " << kData.string() << " is absent");
    return;
  }
  const Dataset d = read_subj(kData);
  CHECK(d.train.size() == 8000);
  CHECK(d.test.size() == 2000);
  CHECK(d.source.find(kData.string()) != std::string::npos);
  const auto count = [](const std::vector<Example>& s, int label) {
    return std::count_if(s.begin(), s.end(), [&](const Example& e) { return e.label == label; });
  };
  CHECK(count(d.test, 0) == 1033);
  CHECK(count(d.test, 1) == 967);

  const auto ten = labelled_subset(d, kData, 10, 0);
  CHECK(ten.size() == 10);
  CHECK(labelled_subset(d, kData, 20, 0).size() == 20);
  CHECK(labelled_subset(d, kData, 50, 0).size() == 50);
  std::set<std::string> train_texts;
  for (const auto& e : d.train) train_texts.insert(e.text);
  for (const auto& e : ten) CHECK(train_texts.count(e.text) == 1);

  const auto a = labelled_subset(d, kData, 100, 1);
  REQUIRE(a.size() == 100);
  CHECK(count(a, 0) == 50);
  CHECK(count(a, 1) == 50);
  const auto same = labelled_subset(d, kData, 100, 1);
  const auto other = labelled_subset(d, kData, 100, 2);
  const auto texts = [](const std::vector<Example>& s) {
    std::vector<std::string> t;
    for (const auto& e : s) t.push_back(e.text);
    return t;
  };
  CHECK(texts(a) == texts(same));
  CHECK(texts(a) != texts(other));
  CHECK(count(other, 0) == 50);
  for (const auto& e : a) CHECK(train_texts.count(e.text) == 1);
}
