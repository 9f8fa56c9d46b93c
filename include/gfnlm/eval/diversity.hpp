#pragma once
// Diversity of a set of samples (DESIGN: eval/): distinct-n, the share of n-grams that are new
// (Li et al. 2016, used by the paper's sentence-continuation results); the number of distinct
// values (issue 5: how many of the 101 integers a sampler ever produces); the mean pairwise edit
// distance (issue 19: how far apart a sampler's answers to one prompt are, token by token).
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/edit_distance.hpp>

#include <algorithm>
#include <cstddef>
#include <ranges>
#include <set>
#include <vector>

namespace gfnlm {

// Sequences: any range of ranges whose tokens are ordered (int32_t token ids, chars of strings,
// std::string words). A sequence shorter than n contributes no n-gram.
template <class Seqs>
concept SequenceRange =
    std::ranges::input_range<Seqs> && std::ranges::input_range<std::ranges::range_value_t<Seqs>>;

template <SequenceRange Seqs>
std::size_t count_ngrams(const Seqs& sequences, int n) {
  GFNLM_CHECK(n >= 1, "count_ngrams: n = {} must be >= 1", n);
  std::size_t total = 0;
  for (const auto& seq : sequences) {
    const auto len = static_cast<std::size_t>(std::ranges::distance(seq));
    if (len >= std::size_t(n)) total += len - n + 1;
  }
  return total;
}

template <SequenceRange Seqs>
std::size_t count_distinct_ngrams(const Seqs& sequences, int n) {
  GFNLM_CHECK(n >= 1, "count_distinct_ngrams: n = {} must be >= 1", n);
  using Token = std::ranges::range_value_t<std::ranges::range_value_t<Seqs>>;
  std::set<std::vector<Token>> seen;
  for (const auto& seq : sequences) {
    const std::vector<Token> tokens(std::ranges::begin(seq), std::ranges::end(seq));
    for (std::size_t i = 0; i + n <= tokens.size(); ++i)
      seen.emplace(tokens.begin() + i, tokens.begin() + i + n);
  }
  return seen.size();
}

// Distinct n-grams / all n-grams over the whole set, in [0, 1]; 0 when there is no n-gram at all.
template <SequenceRange Seqs>
double distinct_n(const Seqs& sequences, int n) {
  const std::size_t total = count_ngrams(sequences, n);
  if (total == 0) return 0.0;
  return double(count_distinct_ngrams(sequences, n)) / double(total);
}

// Number of distinct values (values need operator<).
template <std::ranges::input_range Values>
std::size_t count_distinct(const Values& values) {
  std::set<std::ranges::range_value_t<Values>> seen(std::ranges::begin(values),
                                                    std::ranges::end(values));
  return seen.size();
}

// Mean over unordered pairs i < j of edit_distance(s_i, s_j) / max(|s_i|, |s_j|), in [0, 1]:
// normalising by the longer length keeps long and short samples comparable. A pair of empty
// sequences counts 0 (identical); fewer than 2 sequences have no pair and give 0.
template <SequenceRange Seqs>
double mean_pairwise_edit_distance(const Seqs& sequences) {
  using Token = std::ranges::range_value_t<std::ranges::range_value_t<Seqs>>;
  std::vector<std::vector<Token>> seqs;
  for (const auto& seq : sequences)
    seqs.emplace_back(std::ranges::begin(seq), std::ranges::end(seq));
  if (seqs.size() < 2) return 0.0;
  double sum = 0.0;
  for (std::size_t i = 0; i < seqs.size(); ++i)
    for (std::size_t j = i + 1; j < seqs.size(); ++j) {
      const std::size_t longer = std::max(seqs[i].size(), seqs[j].size());
      if (longer > 0) sum += double(edit_distance(seqs[i], seqs[j])) / double(longer);
    }
  const double pairs = double(seqs.size()) * double(seqs.size() - 1) / 2.0;
  return sum / pairs;
}

}  // namespace gfnlm
