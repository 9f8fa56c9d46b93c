#pragma once
// The Tokenizer concept: what every tokenizer in gfnlm offers (char/byte-level, GPT-2 byte-level
// BPE, llama2.c). Samplers, tasks and rewards are written against this concept only, so a task
// built on the char tokenizer runs unchanged on a real model's vocabulary (DESIGN: text/).
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm {

// Requirements:
//   encode(text)   -> token ids; throws gfnlm::Error for text the vocabulary cannot express.
//                     Adds no BOS/EOS by itself: callers prepend bos_id() where a model wants it.
//   decode(ids)    -> the text the ids stand for; throws gfnlm::Error for an id out of range.
//   token_text(id) -> the bytes one token stands for, used to build masks such as "tokens
//                     that are digits" (decode may differ at the edges: the llama2.c tokenizer
//                     drops BOS/EOS and the dummy leading space).
//   vocab_size()   -> number of ids; every id is in [0, vocab_size()).
//   bos_id(), eos_id() -> special ids, or -1 where the vocabulary has none.
template <class T>
concept Tokenizer = requires(const T& t, std::string_view text, std::span<const int32_t> ids,
                             int32_t id) {
  { t.encode(text) } -> std::same_as<std::vector<int32_t>>;
  { t.decode(ids) } -> std::same_as<std::string>;
  { t.token_text(id) } -> std::convertible_to<std::string>;
  { t.vocab_size() } -> std::convertible_to<int>;
  { t.bos_id() } -> std::convertible_to<int32_t>;
  { t.eos_id() } -> std::convertible_to<int32_t>;
};

}  // namespace gfnlm
