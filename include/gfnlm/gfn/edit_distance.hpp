#pragma once
// Token-level Levenshtein distance, used by the replay buffer's near-duplicate test
// (SPEC section 4: "token edit distance < 0.25 x (len_a + len_b)") and by eval/diversity.hpp's
// mean pairwise edit distance. Sequences there are short (tens of tokens), so the plain O(n m)
// dynamic programme with two rows is the right tool.
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <ranges>
#include <span>
#include <vector>

namespace gfnlm {

namespace detail {

template <class T>
std::size_t edit_distance_span(std::span<const T> a, std::span<const T> b) {
  if (a.size() < b.size()) std::swap(a, b);  // the row runs over the shorter sequence
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace detail

// Minimum number of single-token insertions, deletions and substitutions turning a into b.
// Any two contiguous sequences of the same token type: int32_t ids, chars, std::string words.
template <std::ranges::contiguous_range A, std::ranges::contiguous_range B>
requires std::same_as<std::ranges::range_value_t<A>, std::ranges::range_value_t<B>> &&
    std::equality_comparable<std::ranges::range_value_t<A>>
        std::size_t edit_distance(const A& a, const B& b) {
  using T = std::ranges::range_value_t<A>;
  return detail::edit_distance_span<T>({std::ranges::data(a), std::ranges::size(a)},
                                       {std::ranges::data(b), std::ranges::size(b)});
}

}  // namespace gfnlm
