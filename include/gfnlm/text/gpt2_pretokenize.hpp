#pragma once
// GPT-2's pre-tokenisation, written by hand instead of with a regex engine so that it needs no
// Unicode-aware regex library and behaves identically everywhere. It splits text into the
// pieces the pattern
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matches (leftmost alternative first, each quantifier greedy), with \p{L}, \p{N} and \s from
// unicode_tables.hpp. BPE then runs inside each piece only.
#include <gfnlm/text/unicode_tables.hpp>
#include <gfnlm/text/utf8.hpp>

#include <algorithm>
#include <span>
#include <string_view>
#include <vector>

namespace gfnlm {

namespace unicode {

inline bool in_ranges(std::span<const CodePointRange> ranges, char32_t cp) {
  const auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                                   [](char32_t c, const CodePointRange& r) { return c < r.lo; });
  return it != ranges.begin() && cp <= std::prev(it)->hi;
}
inline bool is_letter(char32_t cp) {
  return cp < 0x80 ? ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') : in_ranges(kLetterRanges, cp);
}
inline bool is_number(char32_t cp) {
  return cp < 0x80 ? (cp >= '0' && cp <= '9') : in_ranges(kNumberRanges, cp);
}
inline bool is_space(char32_t cp) {
  return in_ranges(kSpaceRanges, cp);
}
// \s as Unicode's White_Space property has it (Oniguruma, which Hugging Face tokenizers' regexes
// run on; Rust's regex; Python's `regex`): is_space's ECMAScript set plus U+0085, minus U+FEFF.
inline bool is_white_space(char32_t cp) {
  return cp == 0x85 || (cp != 0xFEFF && is_space(cp));
}

}  // namespace unicode

namespace detail {

enum class CharClass { letter, number, space, other };

// Which \s a pattern means: ECMAScript's (the JavaScript GPT-2 reference encoder) or Unicode's
// White_Space (Hugging Face tokenizers). They differ at U+0085 and U+FEFF only.
enum class SpaceSet { ecmascript, unicode };

// One character of the input: its bytes [pos, pos + len) and its class. A byte that does not
// start valid UTF-8 is taken alone as class `other`, so byte-level BPE still encodes it exactly.
struct ClassifiedChar {
  std::size_t pos, len;
  char32_t cp;
  CharClass cls;
};

inline std::vector<ClassifiedChar> classify(std::string_view text,
                                            SpaceSet spaces = SpaceSet::ecmascript) {
  std::vector<ClassifiedChar> chars;
  chars.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    char32_t cp = 0;
    auto n = utf8::char_length(text, pos, &cp);
    CharClass cls = CharClass::other;
    if (n == 0) {
      n = 1, cp = 0xFFFD;
    } else if (unicode::is_letter(cp)) {
      cls = CharClass::letter;
    } else if (unicode::is_number(cp)) {
      cls = CharClass::number;
    } else if (spaces == SpaceSet::ecmascript ? unicode::is_space(cp)
                                              : unicode::is_white_space(cp)) {
      cls = CharClass::space;
    }
    chars.push_back({pos, n, cp, cls});
    pos += n;
  }
  return chars;
}

}  // namespace detail

// Splits text into GPT-2 pre-tokens; the pieces are views into `text` and concatenate to it.
// `spaces`: which \s (ECMAScript for Gpt2Bpe, as its reference encoder; Unicode for HfTokenizer).
inline std::vector<std::string_view> gpt2_pretokenize(
    std::string_view text, detail::SpaceSet spaces = detail::SpaceSet::ecmascript) {
  using detail::CharClass;
  const auto chars = detail::classify(text, spaces);
  const std::size_t n = chars.size();
  std::vector<std::string_view> pieces;
  auto emit = [&](std::size_t first, std::size_t last) {  // chars [first, last)
    const auto begin = chars[first].pos;
    const auto end = last < n ? chars[last].pos : text.size();
    pieces.push_back(text.substr(begin, end - begin));
  };
  auto run_end = [&](std::size_t i, CharClass cls) {
    while (i < n && chars[i].cls == cls) ++i;
    return i;
  };
  for (std::size_t i = 0; i < n;) {
    // 's|'t|'re|'ve|'m|'ll|'d (ASCII apostrophe, lower case only, as in the pattern).
    if (chars[i].cp == '\'' && i + 1 < n) {
      const char32_t a = chars[i + 1].cp, b = i + 2 < n ? chars[i + 2].cp : 0;
      std::size_t len = 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd')
        len = 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        len = 3;
      if (len) {
        emit(i, i + len);
        i += len;
        continue;
      }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional single U+0020, then a run.
    const bool lead_space = chars[i].cp == ' ' && i + 1 < n && chars[i + 1].cls != CharClass::space;
    const std::size_t start = lead_space ? i + 1 : i;
    if (chars[start].cls != CharClass::space) {
      const auto end = run_end(start, chars[start].cls);
      emit(i, end);
      i = end;
      continue;
    }
    // `\s+(?!\S)`: the whitespace run, minus its last character when a non-space follows (that
    // character then leads the next piece, e.g. " world"); `\s+` when the run is one character.
    const auto end = run_end(i, CharClass::space);
    const auto stop = (end == n || end - i == 1) ? end : end - 1;
    emit(i, stop);
    i = stop;
  }
  return pieces;
}

}  // namespace gfnlm
