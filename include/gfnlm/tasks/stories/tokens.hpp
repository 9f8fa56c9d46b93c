#pragma once
// Story items as a model's tokens (issue 19), for any Tokenizer: X (BOS first when the model
// wants it: llama2.c models do), Z and Y, each as the model sees it in the text "X Z Y".
//
// X Z Y joined by one space is encoded in parts: X alone, then Z and Y each as text that follows
// a space. A sentencepiece tokenizer (llama2.c) prepends a dummy space to all it encodes, so Z's
// own encoding already starts " Word"; one without (GPT-2, char) gets the space written out.
// Parts compose only if no merge crosses a boundary. Measured with stories260K's tok512 over the
// 1,640 paragraphs (ItemChoice::all): encode(X) ++ encode(Z) == encode(X + " " + Z) for all 4,890
// continuation items (100%), and encode(X) ++ encode(Z) ++ encode(Y) == encode(X + " " + Z + " " +
// Y) for all 4,820 infilling items (100%): no tok512 token joins sentence-end punctuation to what
// follows. So Z's tokens are exactly what the model reads after X, and a sampled Z is scored in
// the context it would have. The longest prompt is 359 tokens (X + 30 + Y at most 421), within
// stories260K's max_seq_len of 512.
#include <gfnlm/core/error.hpp>
#include <gfnlm/policies/lm_query.hpp>
#include <gfnlm/tasks/stories/items.hpp>
#include <gfnlm/text/tokenizer.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm::stories {

struct ItemTokens {
  std::vector<int32_t> x;  // prompt, BOS first where asked
  std::vector<int32_t> z;  // the reference sentence
  std::vector<int32_t> y;  // the right context (empty for continuation)
};

// True when tok.encode puts a space before the text it is given (sentencepiece's dummy prefix):
// the first token of encode("a") starts with one.
template <Tokenizer T>
bool adds_leading_space(const T& tok) {
  const auto ids = tok.encode("a");
  return !ids.empty() && std::string(tok.token_text(ids.front())).starts_with(' ');
}

// The tokens of `text` where it follows other text and one space.
template <Tokenizer T>
std::vector<int32_t> encode_after_space(const T& tok, std::string_view text) {
  if (adds_leading_space(tok)) return tok.encode(text);
  return tok.encode(" " + std::string(text));
}

// X, Z and Y of an item; bos: prepend tok.bos_id() to X (an error if the tokenizer has none).
template <Tokenizer T>
ItemTokens tokenize(const T& tok, const StoryItem& item, bool bos) {
  ItemTokens out;
  if (bos) {
    GFNLM_CHECK(tok.bos_id() >= 0, "stories: item {}: BOS asked for, but the tokenizer has none",
                item.name());
    out.x.push_back(tok.bos_id());
  }
  for (const int32_t t : tok.encode(item.x)) out.x.push_back(t);
  out.z = encode_after_space(tok, item.z);
  if (!item.y.empty()) out.y = encode_after_space(tok, item.y);
  return out;
}

// The LmQuery of an item: prompt X, suffix Y, and `id` (per-query log Z, replay buffer).
inline LmQuery to_query(const ItemTokens& tokens, int64_t id) {
  return LmQuery{tokens.x, tokens.y, id};
}

// Checks that X, then up to max_z_tokens of Z, then Y fit the model's context: an error naming
// the item (`name`, e.g. StoryItem::name()) and every length otherwise.
inline void check_fits(const LmQuery& query, int max_z_tokens, int max_seq_len,
                       std::string_view name) {
  GFNLM_CHECK(max_z_tokens >= 0 && max_seq_len > 0,
              "stories: check_fits needs max_z_tokens >= 0 and max_seq_len > 0, got {} and {}",
              max_z_tokens, max_seq_len);
  const std::size_t need =
      query.prompt.size() + static_cast<std::size_t>(max_z_tokens) + query.suffix.size();
  GFNLM_CHECK(need <= static_cast<std::size_t>(max_seq_len),
              "stories: item {} does not fit the model's context: prompt {} + Z up to {} + suffix "
              "{} = {} tokens > max_seq_len {}",
              name, query.prompt.size(), max_z_tokens, query.suffix.size(), need, max_seq_len);
}

}  // namespace gfnlm::stories
