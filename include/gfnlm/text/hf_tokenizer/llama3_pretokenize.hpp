#pragma once
// Llama-3's pre-tokenisation (its tokenizer.json: a Split pre-tokenizer with this regex, then
// ByteLevel without its own regex), written by hand like gpt2_pretokenize.hpp. It splits text
// into the pieces the pattern
//     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//      ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// matches (leftmost alternative first, greedy quantifiers with backtracking), with \p{L}, \p{N}
// and \s (Unicode's White_Space, as Oniguruma has it) from unicode_tables.hpp. Case folding in
// (?i:...) is ASCII only.
#include <gfnlm/text/gpt2_pretokenize.hpp>

#include <algorithm>
#include <string_view>
#include <vector>

namespace gfnlm {

// The pattern as Llama-3's tokenizer.json spells it (what HfTokenizer recognises).
inline constexpr std::string_view kLlama3SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
    R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Splits text into Llama-3 pre-tokens; the pieces are views into `text` and concatenate to it.
inline std::vector<std::string_view> llama3_pretokenize(std::string_view text) {
  using detail::CharClass;
  const auto chars = detail::classify(text, detail::SpaceSet::unicode);
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
  auto newline = [&](std::size_t i) { return chars[i].cp == '\r' || chars[i].cp == '\n'; };
  auto lower = [](char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  for (std::size_t i = 0; i < n;) {
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (chars[i].cp == '\'' && i + 1 < n) {
      const char32_t a = lower(chars[i + 1].cp), b = i + 2 < n ? lower(chars[i + 2].cp) : 0;
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
    // [^\r\n\p{L}\p{N}]?\p{L}+: one optional character that is no newline, letter or number.
    const auto cls = chars[i].cls;
    if (cls == CharClass::letter || (cls != CharClass::number && !newline(i) && i + 1 < n &&
                                     chars[i + 1].cls == CharClass::letter)) {
      const auto end = run_end(cls == CharClass::letter ? i : i + 1, CharClass::letter);
      emit(i, end);
      i = end;
      continue;
    }
    // \p{N}{1,3}
    if (cls == CharClass::number) {
      const auto end = std::min(run_end(i, CharClass::number), i + 3);
      emit(i, end);
      i = end;
      continue;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    const bool lead_space = chars[i].cp == ' ' && i + 1 < n && chars[i + 1].cls == CharClass::other;
    if (lead_space || cls == CharClass::other) {
      auto end = run_end(lead_space ? i + 1 : i, CharClass::other);
      while (end < n && newline(end)) ++end;
      emit(i, end);
      i = end;
      continue;
    }
    // Whitespace from here on. `\s*[\r\n]+`: up to and including the run's last newline.
    const auto end = run_end(i, CharClass::space);
    std::size_t stop = i;
    for (std::size_t k = i; k < end; ++k)
      if (newline(k)) stop = k + 1;
    // `\s+(?!\S)`: the run, minus its last character when a non-space follows; `\s+` when the
    // run is one character.
    if (stop == i) stop = (end == n || end - i == 1) ? end : end - 1;
    emit(i, stop);
    i = stop;
  }
  return pieces;
}

}  // namespace gfnlm
