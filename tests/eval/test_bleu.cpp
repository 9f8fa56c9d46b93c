// eval/bleu.hpp against nltk (tests/reference/bleu/fixture.json, written by
// tests/reference/make_bleu_fixture.py) and hand-worked values; eval/diversity.hpp's mean
// pairwise edit distance on hand cases.
#include <gfnlm/eval/bleu.hpp>
#include <gfnlm/eval/diversity.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Words = std::vector<std::string>;
using Ids = std::vector<int32_t>;

std::vector<Words> split_all(const std::vector<std::string>& texts) {
  std::vector<Words> out;
  for (const auto& t : texts) out.push_back(gfnlm::split_words(t));
  return out;
}

double bleu(const std::vector<std::string>& refs, const std::string& hyp) {
  return gfnlm::sentence_bleu(split_all(refs), gfnlm::split_words(hyp));
}

double gleu(const std::vector<std::string>& refs, const std::string& hyp) {
  return gfnlm::sentence_gleu(split_all(refs), gfnlm::split_words(hyp));
}

}  // namespace

TEST_CASE("split_words splits on runs of whitespace like str.split()", "[eval]") {
  CHECK(gfnlm::split_words("  Once upon\ta time,\n there\r\n") ==
        Words{"Once", "upon", "a", "time,", "there"});
  CHECK(gfnlm::split_words("").empty());
  CHECK(gfnlm::split_words(" \t\n").empty());
  CHECK(gfnlm::split_words("Yes!") == Words{"Yes!"});
}

TEST_CASE("sentence BLEU-4 and GLEU-4 equal nltk's on the fixture", "[eval]") {
  const std::string path = std::string(GFNLM_SOURCE_DIR) + "/tests/reference/bleu/fixture.json";
  std::ifstream in(path);
  REQUIRE(in.good());
  const auto doc = nlohmann::json::parse(in);
  INFO("nltk " << doc.at("nltk_version").get<std::string>());
  const auto& rows = doc.at("rows");
  REQUIRE(rows.size() >= 40);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto hyp = rows[i].at("hypothesis").get<std::string>();
    const auto refs = rows[i].at("references").get<std::vector<std::string>>();
    INFO("row " << i << ": \"" << hyp << "\"");
    CHECK(std::abs(bleu(refs, hyp) - rows[i].at("bleu4").get<double>()) <= 1e-12);
    CHECK(std::abs(gleu(refs, hyp) - rows[i].at("gleu4").get<double>()) <= 1e-12);
  }
}

TEST_CASE("sentence BLEU-4 on hand-worked cases", "[eval]") {
  // Identical, 4 words or more: every p_n = 1 and BP = 1.
  CHECK(bleu({"the cat sat on the mat"}, "the cat sat on the mat") == 1.0);
  // Brevity: hypothesis "a b c d" (h = 4) inside a reference of r = 8 words: every p_n = 1,
  // BP = exp(1 - r / h) = exp(1 - 8/4) = exp(-1).
  CHECK(bleu({"a b c d e f g h"}, "a b c d") == Approx(std::exp(-1.0)).epsilon(1e-14));
  // The closest reference sets r: against lengths 8 and 2, r = 2 < h, so no penalty.
  CHECK(bleu({"a b c d e f g h", "a b"}, "a b c d") == Approx(1.0).epsilon(1e-14));
  // A tie in distance (lengths 5 and 3 around h = 4) takes the shorter: BP = 1, not exp(-1/4).
  CHECK(bleu({"x y z w v", "x y z"}, "x y z w") == Approx(1.0).epsilon(1e-14));
  // method1: "a big dog" against "a big red dog ran.": p1 = 3/3, p2 = 1/2 ("a big"),
  // p3 = 0/1 -> 0.1/1, p4 has no 4-gram: 0/max(1, 0) -> 0.1; r = 5, h = 3: BP = exp(-2/3).
  const double expected = std::exp(1.0 - 5.0 / 3.0) * std::pow(1.0 * 0.5 * 0.1 * 0.1, 0.25);
  CHECK(bleu({"a big red dog ran."}, "a big dog") == Approx(expected).epsilon(1e-14));
  // One word matching: p1 = 1 and three smoothed orders, 0.1^(3/4), even for a perfect match.
  CHECK(bleu({"cat"}, "cat") == Approx(std::pow(0.1, 0.75)).epsilon(1e-14));
  // No unigram in common, or an empty hypothesis: 0 (nltk returns before smoothing).
  CHECK(bleu({"Tom ran to the park."}, "Sue was very happy.") == 0.0);
  CHECK(bleu({"the cat"}, "") == 0.0);
  // Clipping: "the" x 7 against references holding "the" at most twice: p1 = 2/7.
  const double clipped = std::pow(2.0 / 7.0 * 0.1 / 6 * 0.1 / 5 * 0.1 / 4, 0.25);
  CHECK(bleu({"the cat is on the mat."}, "the the the the the the the") ==
        Approx(clipped).epsilon(1e-14));
}

TEST_CASE("sentence GLEU-4 on hand-worked cases", "[eval]") {
  // "a b c d": 4 + 3 + 2 + 1 = 10 n-grams, all in "a b c d e f g h" (8 + 7 + 6 + 5 = 26):
  // 10 / max(10, 26); against "a b" (3 n-grams, all matched): 3 / max(10, 3). The best is 10/26.
  CHECK(gleu({"a b c d e f g h", "a b"}, "a b c d") == Approx(10.0 / 26.0).epsilon(1e-14));
  CHECK(gleu({"a b"}, "a b c d") == Approx(0.3).epsilon(1e-14));
  // Symmetric in hypothesis and (one) reference.
  CHECK(gleu({"a b c d"}, "a b") == gleu({"a b"}, "a b c d"));
  CHECK(gleu({"the cat sat on the mat"}, "the cat sat on the mat") == 1.0);
  CHECK(gleu({"goodbye"}, "hello") == 0.0);
  CHECK(gleu({"the cat"}, "") == 0.0);
  CHECK(gleu({""}, "") == 0.0);  // no n-gram on either side: nltk skips the pair, 0
}

TEST_CASE("BLEU and GLEU take token ids as well as words", "[eval]") {
  // "a big dog" / "a big red dog ran." with a = 1, big = 2, dog = 3, red = 4, ran. = 5.
  const std::vector<Ids> refs{{1, 2, 4, 3, 5}};
  const Ids hyp{1, 2, 3};
  CHECK(gfnlm::sentence_bleu(refs, hyp) == bleu({"a big red dog ran."}, "a big dog"));
  CHECK(gfnlm::sentence_gleu(refs, hyp) == gleu({"a big red dog ran."}, "a big dog"));
}

TEST_CASE("BLEU and GLEU reject an empty reference list", "[eval]") {
  const std::vector<Words> none;
  CHECK_THROWS_AS(gfnlm::sentence_bleu(none, Words{"a"}), gfnlm::Error);
  CHECK_THROWS_AS(gfnlm::sentence_gleu(none, Words{"a"}), gfnlm::Error);
  CHECK_THROWS_WITH(gfnlm::sentence_bleu(none, Words{"a"}),
                    Catch::Contains("reference list is empty"));
}

TEST_CASE("mean pairwise edit distance on hand cases", "[eval]") {
  // "the cat sat" / "the dog sat": 1 of 3; / "a cat": the -> a, drop sat: 2 of 3;
  // "the dog sat" / "a cat": 3 of 3. Mean (1/3 + 2/3 + 1) / 3 = 2/3.
  const std::vector<Words> words{gfnlm::split_words("the cat sat"),
                                 gfnlm::split_words("the dog sat"), gfnlm::split_words("a cat")};
  CHECK(gfnlm::mean_pairwise_edit_distance(words) == Approx(2.0 / 3.0).epsilon(1e-14));
  // Ids: (1 2 3) twice and (3 2 1): 0, 2/3, 2/3 -> 4/9.
  CHECK(gfnlm::mean_pairwise_edit_distance(std::vector<Ids>{{1, 2, 3}, {1, 2, 3}, {3, 2, 1}}) ==
        Approx(4.0 / 9.0).epsilon(1e-14));
  // Characters of strings: kitten / sitting = 3 of 7.
  CHECK(gfnlm::mean_pairwise_edit_distance(std::vector<std::string>{"kitten", "sitting"}) ==
        Approx(3.0 / 7.0).epsilon(1e-14));
  // Two empty sequences are identical; an empty one against any other differs everywhere.
  CHECK(gfnlm::mean_pairwise_edit_distance(std::vector<Ids>{{}, {}}) == 0.0);
  CHECK(gfnlm::mean_pairwise_edit_distance(std::vector<Ids>{{}, {7, 8}}) == 1.0);
  // Fewer than two sequences have no pair.
  CHECK(gfnlm::mean_pairwise_edit_distance(std::vector<Ids>{}) == 0.0);
  CHECK(gfnlm::mean_pairwise_edit_distance(std::vector<Ids>{{1, 2}}) == 0.0);
}
