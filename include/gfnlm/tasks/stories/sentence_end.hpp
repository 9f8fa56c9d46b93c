#pragma once
// The tokens a sentence may end with, for LogitMask's stop_after (gfn/masks.hpp: STOP only right
// after one of them), so a sampled Z is always a whole sentence (issue 19).
//
// A token ends a sentence when its text, with trailing closing quotes and spaces stripped, ends in
// '.', '!' or '?'. A tokenizer that spells '!"' as '!' then '"' ends quoted sentences with a bare
// quote, so tokens that are only '"'s count too (not ' "': that one opens a quote). The single
// quote does not: it is also the apostrophe token ("it's" is " it" "'" "s" in tok512), and STOP
// after every apostrophe would cut words; items never hold out a sentence ending in one
// (stories/items.hpp). Where two tokens have the same text (a byte-fallback token "<0x2E>" beside
// "."), only the one the tokenizer produces counts: the other never follows a sampled sentence.
//
// stories260K's tok512: 426 ".", 436 '"', 443 "!", 450 "?" (it splits '!"' into 443 436; ' "'
// is 313; the byte tokens <0x21> <0x22> <0x2E> <0x3F> are twins left out). Measured over the
// 1,640 paragraphs (ItemChoice::all), tokens as stories/tokens.hpp makes them: every held-out Z
// ends in one of them (4,890 continuation and 4,820 infilling Zs: 100%). A Z holds one before its
// final run of them in 94 continuation (1.9%) and 66 infilling (1.4%) Zs: a quote that ends
// inside the sentence (`"Mmm, it tastes so good!" she said.`, `"I can carry you home," said Sam.`;
// 88 and 62, of which 10 and 7 are single or mis-decoded quotes), a title ("Mr. Smith", 5 and 3),
// an ellipsis (1 and 1). So STOP is also legal after such a quote, as after ',"'.
#include <gfnlm/text/tokenizer.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm::stories {

namespace detail {

inline std::string_view strip_closers_and_spaces(std::string_view s) {
  while (!s.empty() && (s.back() == '"' || s.back() == '\'' || s.back() == ')' || s.back() == ' '))
    s.remove_suffix(1);
  return s;
}

inline bool only_double_quotes(std::string_view s) {
  return !s.empty() && s.find_first_not_of('"') == std::string_view::npos;
}

}  // namespace detail

// True when tok spells '!"' with a token of its own for the quote.
template <Tokenizer T>
bool splits_closing_quote(const T& tok) {
  const auto ids = tok.encode("a!\"");
  return ids.size() >= 2 && detail::only_double_quotes(std::string(tok.token_text(ids.back())));
}

// The sentence-end tokens of tok, ascending (the rules at the top of this file).
template <Tokenizer T>
std::vector<int32_t> sentence_end_tokens(const T& tok) {
  const bool bare_quotes = splits_closing_quote(tok);
  std::vector<std::string> texts(static_cast<std::size_t>(tok.vocab_size()));
  for (int32_t id = 0; id < tok.vocab_size(); ++id) texts[id] = tok.token_text(id);
  const auto candidate = [&](int32_t id) {
    if (id == tok.bos_id() || id == tok.eos_id()) return false;
    const std::string_view stripped = detail::strip_closers_and_spaces(texts[id]);
    if (!stripped.empty())
      return stripped.back() == '.' || stripped.back() == '!' || stripped.back() == '?';
    return bare_quotes && detail::only_double_quotes(texts[id]);
  };
  std::vector<int32_t> out;
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (!candidate(id)) continue;
    const bool twin = std::count(texts.begin(), texts.end(), texts[id]) > 1;
    if (twin) {
      // Keep it only if the tokenizer spells its text with it after a word.
      const auto ids = tok.encode("a" + texts[id]);
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
    }
    out.push_back(id);
  }
  return out;
}

}  // namespace gfnlm::stories
