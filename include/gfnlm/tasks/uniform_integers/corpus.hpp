#pragma once
// The corpus the embedded base model is pretrained on (issue 5; docs/uniform_integers.md). It
// mimics how real LMs answer "give me a random integer between 0 and 100": favourite numbers
// (42, 7, 37, 73, 77, 50, 69, 100 ...), multiples of ten, a thin tail over every integer, plus
// out-of-range numbers, number words, empty answers and text that is no number. The answer
// distribution is explicit, so tests and docs can state its validity (58%) and its KL to
// uniform over the valid part (1.52 nats) exactly, and a model trained on it is skewed and
// often invalid, as the paper's GPT-J was (SPEC section 6: 50.5% valid, KL 3.37).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/tasks/uniform_integers/answer.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm::uniform_integers {

// The paper's prompt (SPEC section 6); used with real checkpoints (--model).
inline constexpr std::string_view kPaperPrompt =
    "The following is a random integer drawn uniformly between 0 and 100: ";
// The embedded char-level model's prompt: same request, a third of the characters, so rollouts
// and teacher forcing of the small model spend their time on the answer, not the prompt.
inline constexpr std::string_view kCharPrompt = "A random integer from 0 to 100: ";

// Longest answer in the corpus is 11 characters ("one hundred"); 12 answer tokens leave room
// for it and for the stop decision, and are far above the 3 digits a valid answer needs.
inline constexpr int kMaxAnswerTokens = 12;

struct WeightedAnswer {
  std::string text;
  double probability = 0;
};

// Shares of each kind in the corpus (sum 1).
struct CorpusMix {
  double valid = 0.58;
  double out_of_range = 0.12;
  double words = 0.12;
  double empty = 0.10;
  double unparseable = 0.08;
};

// Every answer the corpus generator can emit, with its probability (sums to 1; one entry per
// distinct text).
inline std::vector<WeightedAnswer> corpus_distribution(const CorpusMix& mix = {}) {
  const double sum = mix.valid + mix.out_of_range + mix.words + mix.empty + mix.unparseable;
  GFNLM_CHECK(std::abs(sum - 1.0) < 1e-9 && mix.valid >= 0 && mix.out_of_range >= 0 &&
                  mix.words >= 0 && mix.empty >= 0 && mix.unparseable >= 0,
              "CorpusMix shares must be non-negative and sum to 1 (they sum to {})", sum);
  // Valid part: weights within the valid mass (sum 1). Favourites first, as LMs rank them.
  std::vector<double> valid(kNumValues, 0.0);
  const std::pair<int, double> favourites[] = {{42, 0.22}, {7, 0.10},  {37, 0.07}, {73, 0.06},
                                               {77, 0.06}, {50, 0.05}, {69, 0.05}, {100, 0.04},
                                               {23, 0.03}, {17, 0.03}, {13, 0.02}, {27, 0.02},
                                               {47, 0.02}, {3, 0.02},  {1, 0.02},  {99, 0.02}};
  double used = 0;
  for (auto [v, w] : favourites) valid[v] += w, used += w;
  for (int v : {0, 10, 20, 30, 40, 60, 70, 80, 90}) valid[v] += 0.01, used += 0.01;
  // The rest is a thin uniform tail, so every integer appears in a large enough corpus.
  for (auto& w : valid) w += (1.0 - used) / kNumValues;

  std::vector<WeightedAnswer> out;
  out.reserve(kNumValues);
  for (int v = 0; v < kNumValues; ++v)
    out.push_back({std::to_string(kMinValue + v), mix.valid * valid[v]});
  auto add_group = [&](double share, std::initializer_list<std::pair<std::string_view, double>> g) {
    double total = 0;
    for (auto& [t, w] : g) total += w;
    for (auto& [t, w] : g) out.push_back({std::string(t), share * w / total});
  };
  add_group(mix.out_of_range, {{"101", 3},
                               {"1000", 2},
                               {"150", 1},
                               {"200", 1},
                               {"123", 1},
                               {"420", 1},
                               {"777", 1},
                               {"-1", 1},
                               {"-7", 1},
                               {"500", 1}});
  add_group(mix.words, {{"seven", 3},
                        {"forty-two", 3},
                        {"fifty", 1},
                        {"seventy", 1},
                        {"one hundred", 1},
                        {"ten", 1},
                        {"three", 1},
                        {"thirty", 1}});
  add_group(mix.empty, {{"", 1}});
  add_group(mix.unparseable, {{"3.14", 2},
                              {"42.5", 1},
                              {"?", 1},
                              {"n/a", 1},
                              {"x", 1},
                              {"07", 1},
                              {"idk", 1},
                              {"a number", 1},
                              {"42!", 1}});
  return out;
}

// n answers drawn i.i.d. from corpus_distribution() (answer text only; no prompt, no stop).
inline std::vector<std::string> generate_answers(int n, Rng& rng, const CorpusMix& mix = {}) {
  GFNLM_CHECK(n >= 0, "generate_answers: n = {} is negative", n);
  const auto dist = corpus_distribution(mix);
  std::vector<double> weights;
  weights.reserve(dist.size());
  for (const auto& a : dist) weights.push_back(a.probability);
  std::vector<std::string> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i)
    out.push_back(dist[rng.categorical(std::span<const double>(weights))].text);
  return out;
}

// Every character the prompt and the corpus can contain, sorted: the char tokenizer's alphabet
// (independent of the drawn sample, so a cached model and a fresh corpus agree on ids).
inline std::string corpus_alphabet(std::string_view prompt = kCharPrompt) {
  std::set<char> chars(prompt.begin(), prompt.end());
  for (const auto& a : corpus_distribution()) chars.insert(a.text.begin(), a.text.end());
  for (char c = '0'; c <= '9'; ++c) chars.insert(c);
  return std::string(chars.begin(), chars.end());
}

}  // namespace gfnlm::uniform_integers
