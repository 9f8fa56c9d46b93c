#pragma once
// The items of the two language experiments (issue 19; SPEC section 3), as text:
// - continuation: X = the first k sentences of a paragraph (k in 1..max_prefix), Z = sentence
//   k + 1, the reference next sentence; Y is empty;
// - infilling: X = the sentences before a held-out sentence i (i >= 1), Z = sentence i, the
//   reference infill, Y = sentence i + 1.
// X joins its sentences with one space, and X, Z and Y are read as joined by one space each
// (stories/tokens.hpp): the data's 28 double spaces between sentences become one.
//
// A held-out sentence must end as a sentence does: '.', '!' or '?', then only '"'s. That leaves
// out 7 of the 8,101 sentences: two that end a paragraph on "said:" (the speech is on the next
// line), two in single quotes (`I found a point!'`: tokenizers spell that quote with their
// apostrophe token, which therefore is no STOP point, stories/sentence_end.hpp) and three that
// end on a mis-decoded quote.
//
// With ItemChoice::all on the 1,640 paragraphs: 4,890 continuation items (k = 1..3) and 4,820
// infilling items; on the 1,622 of ascii_paragraphs(), 4,836 and 4,765.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/tasks/stories/paragraphs.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm::stories {

struct StoryItem {
  std::size_t paragraph = 0;  // index into the paragraphs
  int line = 0;               // the paragraph's line in its file
  std::size_t held_out = 0;   // Z's sentence index = the number of sentences in X
  std::string x, z, y;        // y is empty for continuation

  // For errors and logs: "line 12, sentence 3".
  std::string name() const { return fmt::format("line {}, sentence {}", line, held_out + 1); }
};

// One item per paragraph (the held-out sentence drawn from the item's own seed), or every
// held-out sentence the task allows.
enum class ItemChoice { one_per_paragraph, all };

// True when `sentence` may be a held-out reference (the rule at the top of this file).
inline bool ends_as_sentence(std::string_view sentence) {
  while (!sentence.empty() && sentence.back() == '"') sentence.remove_suffix(1);
  if (sentence.empty()) return false;
  const char c = sentence.back();
  return c == '.' || c == '!' || c == '?';
}

namespace detail {

// The seed of paragraph `index`'s item: independent of which other paragraphs are in the list.
inline uint64_t item_seed(uint64_t seed, std::size_t index) {
  return seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(index) + 1));
}

// Items for the held-out sentences [first, last] of each listed paragraph that end as sentences.
template <class Make>
std::vector<StoryItem> make_items(const std::vector<Paragraph>& paragraphs,
                                  std::span<const std::size_t> indices, ItemChoice choice,
                                  uint64_t seed, std::size_t first, std::size_t last_from_end,
                                  std::size_t last_cap, Make make) {
  std::vector<StoryItem> items;
  for (const std::size_t index : indices) {
    GFNLM_CHECK(index < paragraphs.size(), "stories: paragraph index {} is out of range [0, {})",
                index, paragraphs.size());
    const Paragraph& p = paragraphs[index];
    std::vector<std::size_t> allowed;
    for (std::size_t i = first; i + last_from_end < p.size() && i <= last_cap; ++i)
      if (ends_as_sentence(p.sentence(i))) allowed.push_back(i);
    if (allowed.empty()) continue;
    if (choice == ItemChoice::one_per_paragraph) {
      Rng rng(item_seed(seed, index));
      allowed = {allowed[rng.below(allowed.size())]};
    }
    for (const std::size_t i : allowed) {
      StoryItem item{index, p.line, i, p.joined(0, i), std::string(p.sentence(i)), {}};
      make(p, item);
      items.push_back(std::move(item));
    }
  }
  return items;
}

}  // namespace detail

// Continuation items of the listed paragraphs: Z is sentence k + 1, k in 1..max_prefix.
inline std::vector<StoryItem> continuation_items(const std::vector<Paragraph>& paragraphs,
                                                 std::span<const std::size_t> indices,
                                                 ItemChoice choice, uint64_t seed,
                                                 std::size_t max_prefix = 3) {
  GFNLM_CHECK(max_prefix >= 1, "stories: continuation needs max_prefix >= 1, got {}", max_prefix);
  return detail::make_items(paragraphs, indices, choice, seed, 1, 0, max_prefix,
                            [](const Paragraph&, StoryItem&) {});
}

// Infilling items of the listed paragraphs: Z is sentence i, 1 <= i <= size - 2, Y sentence i + 1.
inline std::vector<StoryItem> infilling_items(const std::vector<Paragraph>& paragraphs,
                                              std::span<const std::size_t> indices,
                                              ItemChoice choice, uint64_t seed) {
  return detail::make_items(
      paragraphs, indices, choice, seed, 1, 1, static_cast<std::size_t>(-1),
      [](const Paragraph& p, StoryItem& item) { item.y = p.sentence(item.held_out + 1); });
}

}  // namespace gfnlm::stories
