#pragma once
// A fixed-seed split of paragraphs into training, validation and test sets (issue 19; the data's
// README asks that the split be reported). The shuffle draws only Rng::below (xoshiro256**, no
// std:: distribution), so a seed gives the same split on every platform and library version;
// each set is listed in ascending order, and paragraph i is line i + 1 of the file.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm::stories {

struct SplitSizes {
  std::size_t train = 0, validation = 0, test = 0;
};

struct DataSplit {
  uint64_t seed = 0;
  std::vector<std::size_t> train, validation, test;  // paragraph indices, ascending
};

// Shuffles `pool` (paragraph indices, no repeats) with Fisher-Yates under `seed` and deals the
// first sizes.train to train, the next to validation, the next to test; the rest is unused.
inline DataSplit split_paragraphs(std::span<const std::size_t> pool, SplitSizes sizes,
                                  uint64_t seed) {
  const std::size_t want = sizes.train + sizes.validation + sizes.test;
  GFNLM_CHECK(want <= pool.size(),
              "stories: split of {} train + {} validation + {} test paragraphs needs {}, but the "
              "pool holds {}",
              sizes.train, sizes.validation, sizes.test, want, pool.size());
  std::vector<std::size_t> order(pool.begin(), pool.end());
  {
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    GFNLM_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(),
                "stories: the pool of paragraphs to split repeats an index");
  }
  Rng rng(seed);
  for (std::size_t i = order.size(); i > 1; --i) {
    // below(i) < i; the min guards the last rounding step of its double arithmetic.
    const auto j = std::min(static_cast<std::size_t>(rng.below(i)), i - 1);
    std::swap(order[i - 1], order[j]);
  }
  DataSplit split;
  split.seed = seed;
  auto deal = [&, at = std::size_t{0}](std::size_t n) mutable {
    std::vector<std::size_t> part(order.begin() + static_cast<std::ptrdiff_t>(at),
                                  order.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    std::sort(part.begin(), part.end());
    return part;
  };
  split.train = deal(sizes.train);
  split.validation = deal(sizes.validation);
  split.test = deal(sizes.test);
  return split;
}

// The same over paragraphs 0 .. count-1.
inline DataSplit split_paragraphs(std::size_t count, SplitSizes sizes, uint64_t seed) {
  std::vector<std::size_t> pool(count);
  std::iota(pool.begin(), pool.end(), std::size_t{0});
  return split_paragraphs(pool, sizes, seed);
}

}  // namespace gfnlm::stories
