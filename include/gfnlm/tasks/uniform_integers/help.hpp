#pragma once
// What a base that never answers gets (issue 24; docs/concepts.md, "When the base never
// succeeds"): the seeded answers and the two answer masks of ExperimentConfig, STOP only after
// a digit and digits only, read from the tokenizer through the AnswerCodec.
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/tasks/uniform_integers/reward.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace gfnlm::uniform_integers {

// The n seeded answers of ExperimentConfig::seed_answers: evenly spaced over 0..100, both ends
// included (n = 10: 0 11 22 33 44 56 67 78 89 100), so one-, two- and three-digit answers are all
// shown; n = 1: 50. Chosen by a rule, not by what the base or the GFlowNet finds hard.
inline std::vector<int> seeded_answers(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    const int v = n == 1 ? 50 : static_cast<int>(std::lround(100.0 * i / (n - 1)));
    if (out.empty() || out.back() != v) out.push_back(v);
  }
  return out;
}

// The tokens other than STOP whose text after the prompt satisfies `keep`, in id order.
template <Tokenizer Tok, class Keep>
std::vector<int32_t> tokens_whose_text(const AnswerCodec<Tok>& codec, int vocab_size, int32_t stop,
                                       Keep keep) {
  std::vector<int32_t> out;
  for (int32_t v = 0; v < vocab_size; ++v)
    if (v != stop && keep(codec.text(std::span<const int32_t>(&v, 1)))) out.push_back(v);
  return out;
}

// The tokens after which STOP may end an answer under stop_after_digit: every token whose text
// after the prompt ends in a digit ("7", "<0x37>", "42").
template <Tokenizer Tok>
std::vector<int32_t> digit_final_tokens(const AnswerCodec<Tok>& codec, int vocab_size,
                                        int32_t stop) {
  auto out = tokens_whose_text(codec, vocab_size, stop, [](const std::string& text) {
    return !text.empty() && detail::is_digit(text.back());
  });
  GFNLM_CHECK(!out.empty(), "stop_after_digit: no token of the vocabulary ends in a digit");
  return out;
}

// The tokens of digits_only: every token whose text after the prompt is all digits, and STOP.
template <Tokenizer Tok>
std::vector<int32_t> digit_tokens(const AnswerCodec<Tok>& codec, int vocab_size, int32_t stop) {
  auto out = tokens_whose_text(codec, vocab_size, stop, [](const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), detail::is_digit);
  });
  GFNLM_CHECK(!out.empty(), "digits_only: no token of the vocabulary is all digits");
  out.insert(std::lower_bound(out.begin(), out.end(), stop), stop);
  return out;
}

// The two answer masks as (allowed tokens, stop-after tokens), empty lists for those not asked:
// digits_only (digit_tokens) and stop_after_digit (digit_final_tokens).
struct AnswerMasks {
  bool digits_only = false;
  bool stop_after_digit = false;
};
template <Tokenizer Tok>
std::pair<std::vector<int32_t>, std::vector<int32_t>> answer_mask_tokens(
    const AnswerCodec<Tok>& codec, int vocab_size, int32_t stop, AnswerMasks which) {
  std::pair<std::vector<int32_t>, std::vector<int32_t>> out;
  if (which.digits_only) out.first = digit_tokens(codec, vocab_size, stop);
  if (which.stop_after_digit) out.second = digit_final_tokens(codec, vocab_size, stop);
  return out;
}

// The mask PPO's rollouts and the evaluation of PPO and SFT use: the answer masks and nothing
// else (null when neither is asked).
template <Tokenizer Tok>
std::optional<LogitMask> answer_mask(const AnswerCodec<Tok>& codec, int vocab_size, int32_t stop,
                                     AnswerMasks which) {
  if (!which.stop_after_digit && !which.digits_only) return std::nullopt;
  const auto [allowed, after] = answer_mask_tokens(codec, vocab_size, stop, which);
  return LogitMask(vocab_size, stop, 0, allowed, after);
}

}  // namespace gfnlm::uniform_integers
