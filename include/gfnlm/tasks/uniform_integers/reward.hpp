#pragma once
// The two reward schemes of the random-integer task (SPEC sections 3 and 6).
//
// GFlowNet: log R(z STOP) = +8 when z is a valid integer, else -8 per token of z (at least once,
// so the empty answer gets -8). Every prefix may stop, so the sampler asks for log R at every
// prefix; a valid prefix ("4" of "42") is itself a valid answer. Only valid answers share the
// top value, hence the optimum q(z STOP) ~ R(z) is uniform over 0..100, and all invalid strings
// together keep a negligible mass: sum_n V^n e^(-8n) / (101 e^8) < 1e-6 for a vocabulary V < 100.
//
// PPO: the reference's scalar scheme, +16 valid, -8 out of range, -16 empty, and lower still for
// text that is not a number at all. Every valid integer earns the same reward, which is why
// reward maximisation makes the model valid but cannot make it uniform (the point of the task).
#include <gfnlm/core/error.hpp>
#include <gfnlm/tasks/uniform_integers/answer.hpp>
#include <gfnlm/text/tokenizer.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gfnlm::uniform_integers {

struct GfnRewardConfig {
  double valid = 8.0;               // log R of "integer 0..100 then stop"
  double invalid_per_token = -8.0;  // log R of anything else, per token (min. one token)
  // A valid integer earns `valid` only in the tokenizer's own encoding of it (AnswerCodec::
  // tokens); another token sequence with the same text scores as invalid. A sub-word vocabulary
  // spells most integers several ways (stories260K has each digit as a piece and as a
  // byte-fallback token, so "42" four ways and "100" eight): crediting every spelling makes the
  // target weight an integer by its number of spellings (KL 0.019 from uniform there) instead of
  // uniformly. A char vocabulary has one spelling per text, so nothing changes for it.
  bool canonical_only = true;
};

inline double gfn_log_reward(const Answer& answer, int num_tokens,
                             const GfnRewardConfig& config = {}) {
  if (answer.is_valid()) return config.valid;
  return config.invalid_per_token * std::max(1, num_tokens);
}

struct PpoRewardScheme {
  double valid = 16.0;
  double out_of_range = -8.0;
  double empty = -16.0;
  double words = -24.0;  // not digits: as unparseable for the reference's int() parser
  double unparseable = -24.0;
  double unfinished = -24.0;  // never stopped: no answer at all

  double operator()(const Answer& answer) const {
    switch (answer.kind) {
      case AnswerKind::valid:
        return valid;
      case AnswerKind::out_of_range:
        return out_of_range;
      case AnswerKind::empty:
        return empty;
      case AnswerKind::words:
        return words;
      case AnswerKind::unparseable:
        return unparseable;
      case AnswerKind::unfinished:
        return unfinished;
    }
    return unparseable;
  }
};

// Decodes answer tokens (prompt and stop token excluded) and parses them.
template <Tokenizer Tok>
Answer parse_tokens(const Tok& tokenizer, std::span<const int32_t> z, bool stopped = true) {
  return parse_answer(tokenizer.decode(z), stopped);
}

// How answers are written in a tokenizer's tokens after the prompt. The text of answer tokens z
// is what they add to the prompt's text: decode(prompt z) minus decode(prompt), so a sub-word
// tokenizer's context-dependent decoding (the llama2.c tokenizer drops a leading space only at
// the start of a text) reads the answer as it appears after the prompt; with no prompt, decode(z).
// tokens(answer) is the reverse: encode(prompt_text + answer) minus encode(prompt_text) when the
// latter is a prefix (no merge across the boundary), else encode(answer).
template <Tokenizer Tok>
class AnswerCodec {
 public:
  explicit AnswerCodec(const Tok& tokenizer, std::vector<int32_t> prompt = {},
                       std::string prompt_text = {})
      : tokenizer_(&tokenizer),
        prompt_(std::move(prompt)),
        prompt_text_(std::move(prompt_text)),
        decoded_prompt_(tokenizer.decode(prompt_)) {}

  std::string text(std::span<const int32_t> z) const {
    if (prompt_.empty()) return tokenizer_->decode(z);
    std::vector<int32_t> all(prompt_);
    all.insert(all.end(), z.begin(), z.end());
    std::string full = tokenizer_->decode(all);
    if (full.compare(0, decoded_prompt_.size(), decoded_prompt_) != 0) return tokenizer_->decode(z);
    return full.substr(decoded_prompt_.size());
  }

  Answer parse(std::span<const int32_t> z, bool stopped = true) const {
    return parse_answer(text(z), stopped);
  }

  std::vector<int32_t> tokens(std::string_view answer) const {
    if (prompt_text_.empty()) return tokenizer_->encode(answer);
    const auto p = tokenizer_->encode(prompt_text_);
    auto full = tokenizer_->encode(prompt_text_ + std::string(answer));
    if (full.size() > p.size() && std::equal(p.begin(), p.end(), full.begin()))
      return {full.begin() + static_cast<std::ptrdiff_t>(p.size()), full.end()};
    return tokenizer_->encode(answer);
  }

  const Tok& tokenizer() const { return *tokenizer_; }
  std::span<const int32_t> prompt() const { return prompt_; }

 private:
  const Tok* tokenizer_;
  std::vector<int32_t> prompt_;
  std::string prompt_text_;
  std::string decoded_prompt_;
};

// log R(z STOP | query) as the Sampler's Reward concept wants it; the query is ignored since the
// task has one prompt.
template <Tokenizer Tok>
class GfnLogReward {
 public:
  explicit GfnLogReward(const Tok& tokenizer, GfnRewardConfig config = {})
      : GfnLogReward(AnswerCodec<Tok>(tokenizer), config) {}
  // Each integer's own encoding must read back as that integer, or no sequence could earn it.
  explicit GfnLogReward(AnswerCodec<Tok> codec, GfnRewardConfig config = {})
      : codec_(std::move(codec)), config_(config) {
    if (!config_.canonical_only) return;
    for (int v = kMinValue; v <= kMaxValue; ++v) {
      canonical_.push_back(codec_.tokens(std::to_string(v)));
      const Answer back = codec_.parse(canonical_.back());
      GFNLM_CHECK(back.is_valid() && back.value == v,
                  "GfnLogReward: the tokenizer's encoding of {} reads back as {:?}, so no token "
                  "sequence could earn its reward",
                  v, codec_.text(canonical_.back()));
    }
  }

  template <class Query>
  double operator()(const Query& /*query*/, std::span<const int32_t> z) const {
    Answer answer = codec_.parse(z);
    if (answer.is_valid() && config_.canonical_only) {
      const auto& own = canonical_[answer.value - kMinValue];
      if (!std::equal(z.begin(), z.end(), own.begin(), own.end()))
        answer.kind = AnswerKind::unparseable;  // the right text, another spelling
    }
    return gfn_log_reward(answer, static_cast<int>(z.size()), config_);
  }

  const GfnRewardConfig& config() const { return config_; }

 private:
  AnswerCodec<Tok> codec_;
  GfnRewardConfig config_;
  std::vector<std::vector<int32_t>> canonical_;  // [101] each integer's own tokens
};

// The scalar terminal reward of PPO for answer tokens z; `stopped` false scores `unfinished`.
template <Tokenizer Tok>
class PpoReward {
 public:
  explicit PpoReward(const Tok& tokenizer, PpoRewardScheme scheme = {})
      : codec_(tokenizer), scheme_(scheme) {}
  explicit PpoReward(AnswerCodec<Tok> codec, PpoRewardScheme scheme = {})
      : codec_(std::move(codec)), scheme_(scheme) {}

  template <class Query>
  double operator()(const Query& /*query*/, std::span<const int32_t> z, bool stopped) const {
    return scheme_(codec_.parse(z, stopped));
  }

  const PpoRewardScheme& scheme() const { return scheme_; }

 private:
  AnswerCodec<Tok> codec_;
  PpoRewardScheme scheme_;
};

}  // namespace gfnlm::uniform_integers
