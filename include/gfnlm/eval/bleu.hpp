#pragma once
// Sentence-level BLEU-4 and GLEU-4 of a hypothesis against references (the paper's sentence
// continuation and story infilling tables). Both reproduce nltk exactly (nltk.translate, checked
// by tests/eval/test_bleu.cpp against tests/reference/bleu/fixture.json), because the paper's
// numbers come from nltk and its choices are not the only reasonable ones:
//   sentence_bleu(refs, hyp, weights=(0.25,)*4, smoothing_function=SmoothingFunction().method1)
//   sentence_gleu(refs, hyp, min_len=1, max_len=4)
// Tokens are any ordered type: std::string words (split_words) or int32_t token ids.
#include <gfnlm/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <ranges>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm {

// Words of a text split on runs of ASCII whitespace, as Python's str.split() does on ASCII text.
inline std::vector<std::string> split_words(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  std::vector<std::string> words;
  std::size_t i = text.find_first_not_of(kSpace);
  while (i != std::string_view::npos) {
    const std::size_t end = std::min(text.find_first_of(kSpace, i), text.size());
    words.emplace_back(text.substr(i, end - i));
    i = text.find_first_not_of(kSpace, end);
  }
  return words;
}

namespace detail {

template <class Token>
using NgramCounts = std::map<std::vector<Token>, std::size_t>;

// Counts of the n-grams of orders min_n..max_n (orders longer than the sequence give none).
template <class Token>
NgramCounts<Token> count_ngram_orders(const std::vector<Token>& seq, std::size_t min_n,
                                      std::size_t max_n) {
  NgramCounts<Token> counts;
  for (std::size_t n = min_n; n <= max_n; ++n)
    for (std::size_t i = 0; i + n <= seq.size(); ++i)
      ++counts[{seq.begin() + i, seq.begin() + i + n}];
  return counts;
}

template <class Token>
std::size_t total_count(const NgramCounts<Token>& counts) {
  std::size_t total = 0;
  for (const auto& [gram, c] : counts) total += c;
  return total;
}

template <class Token, class Seq>
std::vector<Token> to_tokens(const Seq& seq) {
  return std::vector<Token>(std::ranges::begin(seq), std::ranges::end(seq));
}

}  // namespace detail

// BLEU-4 (Papineni et al. 2002) of one hypothesis, as nltk's sentence_bleu with method1:
//   p_n = sum_g min(count_hyp(g), max_r count_r(g)) / max(1, #hyp n-grams), n = 1..4;
//   a p_n with a zero numerator becomes 0.1 / its denominator (method1, epsilon 0.1), so a
//   hypothesis shorter than 4 words gets p_n = 0.1 for the orders it is too short for;
//   BLEU = BP exp(sum_n 0.25 log p_n), BP = 1 if |hyp| > r else exp(1 - r / |hyp|), r the length
//   of the reference closest to |hyp| (the shorter one on a tie).
// nltk returns 0 when no unigram matches, before smoothing; an empty hypothesis is such a case.
template <std::ranges::input_range Refs, std::ranges::input_range Hyp>
requires std::ranges::input_range<std::ranges::range_value_t<Refs>>
double sentence_bleu(const Refs& references, const Hyp& hypothesis) {
  using Token = std::ranges::range_value_t<Hyp>;
  constexpr std::size_t kMaxOrder = 4;
  constexpr double kEpsilon = 0.1, kWeight = 0.25;
  const auto hyp = detail::to_tokens<Token>(hypothesis);
  std::vector<std::vector<Token>> refs;
  for (const auto& r : references) refs.push_back(detail::to_tokens<Token>(r));
  GFNLM_CHECK(!refs.empty(), "sentence_bleu: the reference list is empty (need at least one)");

  double log_sum = 0.0;
  for (std::size_t n = 1; n <= kMaxOrder; ++n) {
    const auto hyp_counts = detail::count_ngram_orders(hyp, n, n);
    std::vector<detail::NgramCounts<Token>> ref_counts;
    for (const auto& r : refs) ref_counts.push_back(detail::count_ngram_orders(r, n, n));
    std::size_t clipped = 0;
    for (const auto& [gram, c] : hyp_counts) {
      std::size_t max_ref = 0;
      for (const auto& rc : ref_counts)
        if (auto it = rc.find(gram); it != rc.end()) max_ref = std::max(max_ref, it->second);
      clipped += std::min(c, max_ref);
    }
    if (n == 1 && clipped == 0) return 0.0;
    const double denominator = double(std::max<std::size_t>(1, detail::total_count(hyp_counts)));
    const double p = clipped == 0 ? kEpsilon / denominator : double(clipped) / denominator;
    log_sum += kWeight * std::log(p);
  }

  const auto h = static_cast<long>(hyp.size());
  long r = static_cast<long>(refs.front().size());
  for (const auto& ref : refs) {
    const auto len = static_cast<long>(ref.size());
    if (std::labs(len - h) < std::labs(r - h) ||
        (std::labs(len - h) == std::labs(r - h) && len < r))
      r = len;
  }
  const double brevity = h > r ? 1.0 : std::exp(1.0 - double(r) / double(h));
  return brevity * std::exp(log_sum);
}

// GLEU-4 (Wu et al. 2016), as nltk's sentence_gleu with min_len=1, max_len=4: over all n-grams
// of orders 1..4, per reference tp / max(#hyp n-grams, #ref n-grams), tp the clipped matches;
// the best reference's score. 0 when every side has no n-gram (all empty).
template <std::ranges::input_range Refs, std::ranges::input_range Hyp>
requires std::ranges::input_range<std::ranges::range_value_t<Refs>>
double sentence_gleu(const Refs& references, const Hyp& hypothesis) {
  using Token = std::ranges::range_value_t<Hyp>;
  const auto hyp_counts = detail::count_ngram_orders(detail::to_tokens<Token>(hypothesis), 1, 4);
  const std::size_t hyp_total = detail::total_count(hyp_counts);
  bool any_reference = false;
  double best = 0.0;
  for (const auto& reference : references) {
    any_reference = true;
    const auto ref_counts = detail::count_ngram_orders(detail::to_tokens<Token>(reference), 1, 4);
    std::size_t tp = 0;
    for (const auto& [gram, c] : hyp_counts)
      if (auto it = ref_counts.find(gram); it != ref_counts.end()) tp += std::min(c, it->second);
    const std::size_t all = std::max(hyp_total, detail::total_count(ref_counts));
    if (all == 0) continue;  // nltk skips a pair with no n-gram on either side
    best = std::max(best, double(tp) / double(all));
  }
  GFNLM_CHECK(any_reference, "sentence_gleu: the reference list is empty (need at least one)");
  return best;
}

}  // namespace gfnlm
