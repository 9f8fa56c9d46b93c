#include <gfnlm/core/rng.hpp>
#include <gfnlm/tasks/uniform_integers.hpp>
#include <gfnlm/text/char_tokenizer.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <string>

namespace ui = gfnlm::uniform_integers;
using ui::AnswerKind;

TEST_CASE("parse_answer: valid integers are canonical digits 0..100", "[tasks_uniform]") {
  for (int v = 0; v <= 100; ++v) {
    const auto a = ui::parse_answer(std::to_string(v));
    REQUIRE(a.kind == AnswerKind::valid);
    REQUIRE(a.value == v);
  }
  REQUIRE(ui::parse_answer("42", false).kind == AnswerKind::unfinished);
}

TEST_CASE("parse_answer: edge cases fall in the right category", "[tasks_uniform]") {
  const std::map<std::string, AnswerKind> cases{
      {"", AnswerKind::empty},
      {"101", AnswerKind::out_of_range},
      {"1000", AnswerKind::out_of_range},
      {"-1", AnswerKind::out_of_range},
      {"-100", AnswerKind::out_of_range},
      {"99999999999999999999", AnswerKind::out_of_range},
      {"07", AnswerKind::unparseable},
      {"00", AnswerKind::unparseable},
      {"-0", AnswerKind::unparseable},
      {"-", AnswerKind::unparseable},
      {"+5", AnswerKind::unparseable},
      {" 42", AnswerKind::unparseable},
      {"42 ", AnswerKind::unparseable},
      {"4 2", AnswerKind::unparseable},
      {"42!", AnswerKind::unparseable},
      {"3.14", AnswerKind::unparseable},
      {"n/a", AnswerKind::unparseable},
      {"idk", AnswerKind::unparseable},
      {"a number", AnswerKind::unparseable},
      {"seven", AnswerKind::words},
      {"Seven", AnswerKind::words},
      {"forty-two", AnswerKind::words},
      {"one hundred", AnswerKind::words},
      {"one hundred and one", AnswerKind::words},
      {"and", AnswerKind::unparseable},
      {"seven-", AnswerKind::unparseable},
      {"forty--two", AnswerKind::unparseable},
      {" seven", AnswerKind::unparseable},
      {"sevens", AnswerKind::unparseable},
      {"<eos>", AnswerKind::unparseable},
  };
  for (const auto& [text, kind] : cases) {
    INFO("answer '" << text << "'");
    REQUIRE(ui::parse_answer(text).kind == kind);
  }
  REQUIRE(ui::parse_answer("-7").value == -7);
  REQUIRE(ui::parse_answer("101").value == 101);
}

TEST_CASE("AnswerCounts tallies bins and kinds", "[tasks_uniform]") {
  ui::AnswerCounts counts;
  for (const char* t : {"0", "100", "100", "x", "", "101"}) counts.add(ui::parse_answer(t));
  counts.add(ui::parse_answer("5", false));
  REQUIRE(counts.total == 7);
  REQUIRE(counts.valid() == 3);
  REQUIRE(counts.invalid() == 4);
  REQUIRE(counts.value[0] == 1);
  REQUIRE(counts.value[100] == 2);
  REQUIRE(counts.distinct_values() == 2);
  REQUIRE(counts.kind[int(AnswerKind::empty)] == 1);
  REQUIRE(counts.kind[int(AnswerKind::unfinished)] == 1);
  REQUIRE(counts.valid_fraction() == Approx(3.0 / 7));
}

TEST_CASE("GFlowNet log-reward: +8 valid, -8 per token otherwise", "[tasks_uniform]") {
  gfnlm::CharTokenizer tok(ui::corpus_alphabet(), {"<eos>"});
  ui::GfnLogReward reward(tok);
  const int query = 0;
  auto log_r = [&](const std::string& s) {
    const auto ids = tok.encode(s);
    return reward(query, std::span<const int32_t>(ids));
  };
  REQUIRE(log_r("42") == 8.0);
  REQUIRE(log_r("4") == 8.0);  // every prefix may stop: "4" is an answer too
  REQUIRE(log_r("100") == 8.0);
  REQUIRE(log_r("") == -8.0);
  REQUIRE(log_r("101") == -24.0);
  REQUIRE(log_r("seven") == -40.0);
  REQUIRE(log_r("07") == -16.0);
  ui::GfnRewardConfig custom{.valid = 3.0, .invalid_per_token = -2.0};
  REQUIRE(ui::gfn_log_reward(ui::parse_answer("x"), 1, custom) == -2.0);
  REQUIRE(ui::gfn_log_reward(ui::parse_answer("1"), 1, custom) == 3.0);
}

TEST_CASE("PPO reward follows the reference's scheme", "[tasks_uniform]") {
  gfnlm::CharTokenizer tok(ui::corpus_alphabet(), {"<eos>"});
  ui::PpoReward reward(tok);
  auto r = [&](const std::string& s, bool stopped = true) {
    const auto ids = tok.encode(s);
    return reward(0, std::span<const int32_t>(ids), stopped);
  };
  REQUIRE(r("77") == 16.0);
  REQUIRE(r("0") == 16.0);
  REQUIRE(r("150") == -8.0);
  REQUIRE(r("-3") == -8.0);
  REQUIRE(r("") == -16.0);
  REQUIRE(r("seven") == -24.0);
  REQUIRE(r("n/a") == -24.0);
  REQUIRE(r("77", false) == -24.0);
  // The ordering the scheme exists for: valid > out of range > empty > not a number.
  const ui::PpoRewardScheme s;
  REQUIRE(s.valid > s.out_of_range);
  REQUIRE(s.out_of_range > s.empty);
  REQUIRE(s.empty > s.unparseable);
}

TEST_CASE("corpus distribution: sums to 1, labelled kinds, skewed and often invalid",
          "[tasks_uniform]") {
  const auto dist = ui::corpus_distribution();
  double total = 0, valid = 0;
  std::array<double, ui::kNumValues> p{};
  std::array<double, ui::kNumKinds> kind{};
  std::set<std::string> seen;
  for (const auto& a : dist) {
    REQUIRE(seen.insert(a.text).second);  // one entry per text
    REQUIRE(a.probability > 0);
    REQUIRE(int(a.text.size()) < ui::kMaxAnswerTokens);
    total += a.probability;
    const auto parsed = ui::parse_answer(a.text);
    kind[int(parsed.kind)] += a.probability;
    if (parsed.is_valid()) p[parsed.value] += a.probability, valid += a.probability;
  }
  REQUIRE(total == Approx(1.0));
  const ui::CorpusMix mix;
  REQUIRE(kind[int(AnswerKind::valid)] == Approx(mix.valid));
  REQUIRE(kind[int(AnswerKind::out_of_range)] == Approx(mix.out_of_range));
  REQUIRE(kind[int(AnswerKind::words)] == Approx(mix.words));
  REQUIRE(kind[int(AnswerKind::empty)] == Approx(mix.empty));
  REQUIRE(kind[int(AnswerKind::unparseable)] == Approx(mix.unparseable));
  // Issue 5: a model of this corpus is <= 70% valid and >= 1 nat from uniform over valid answers.
  REQUIRE(valid <= 0.70);
  double kl = 0;
  for (double q : p) {
    REQUIRE(q > 0);  // every integer has support
    kl += (q / valid) * std::log((q / valid) * ui::kNumValues);
  }
  REQUIRE(kl >= 1.5);
  REQUIRE(p[42] == Approx(*std::max_element(p.begin(), p.end())));
}

TEST_CASE("generate_answers draws from the distribution", "[tasks_uniform]") {
  gfnlm::Rng rng(7);
  const int n = 40000;
  const auto answers = ui::generate_answers(n, rng);
  REQUIRE(int(answers.size()) == n);
  ui::AnswerCounts counts;
  for (const auto& a : answers) counts.add(ui::parse_answer(a));
  const ui::CorpusMix mix;
  // 4 standard errors of a proportion near 0.5 at n = 40000 is 0.01.
  REQUIRE(counts.valid_fraction() == Approx(mix.valid).margin(0.01));
  REQUIRE(double(counts.kind[int(AnswerKind::empty)]) / n == Approx(mix.empty).margin(0.01));
  double kl = 0;
  for (auto c : counts.value)
    if (c) {
      const double q = double(c) / counts.valid();
      kl += q * std::log(q * ui::kNumValues);
    }
  REQUIRE(kl >= 1.0);
  REQUIRE(counts.distinct_values() >= 95);
  // Seeded: the same seed gives the same corpus.
  gfnlm::Rng again(7);
  REQUIRE(ui::generate_answers(n, again) == answers);
}

TEST_CASE("corpus alphabet covers prompt and answers, bad mixes are rejected", "[tasks_uniform]") {
  const auto alphabet = ui::corpus_alphabet();
  gfnlm::CharTokenizer tok(alphabet, {"<eos>"});
  REQUIRE_NOTHROW(tok.encode(ui::kCharPrompt));
  for (const auto& a : ui::corpus_distribution()) REQUIRE_NOTHROW(tok.encode(a.text));
  REQUIRE_THROWS_AS(ui::corpus_distribution(ui::CorpusMix{.valid = 0.9}), gfnlm::Error);
}
