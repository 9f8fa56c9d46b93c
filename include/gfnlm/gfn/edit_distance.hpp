#pragma once
// Token-level Levenshtein distance, used by the replay buffer's near-duplicate test
// (SPEC section 4: "token edit distance < 0.25 x (len_a + len_b)"). Sequences there are short
// (tens of tokens), so the plain O(n m) dynamic programme with two rows is the right tool.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

// Minimum number of single-token insertions, deletions and substitutions turning a into b.
inline std::size_t edit_distance(std::span<const int32_t> a, std::span<const int32_t> b) {
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

}  // namespace gfnlm
