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
#include <gfnlm/tasks/uniform_integers/answer.hpp>
#include <gfnlm/text/tokenizer.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

namespace gfnlm::uniform_integers {

struct GfnRewardConfig {
  double valid = 8.0;               // log R of "integer 0..100 then stop"
  double invalid_per_token = -8.0;  // log R of anything else, per token (min. one token)
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

// log R(z STOP | query) as the Sampler's Reward concept wants it; the query is ignored since the
// task has one prompt.
template <Tokenizer Tok>
class GfnLogReward {
 public:
  explicit GfnLogReward(const Tok& tokenizer, GfnRewardConfig config = {})
      : tokenizer_(&tokenizer), config_(config) {}

  template <class Query>
  double operator()(const Query& /*query*/, std::span<const int32_t> z) const {
    return gfn_log_reward(parse_tokens(*tokenizer_, z), static_cast<int>(z.size()), config_);
  }

  const GfnRewardConfig& config() const { return config_; }

 private:
  const Tok* tokenizer_;
  GfnRewardConfig config_;
};

// The scalar terminal reward of PPO for answer tokens z; `stopped` false scores `unfinished`.
template <Tokenizer Tok>
class PpoReward {
 public:
  explicit PpoReward(const Tok& tokenizer, PpoRewardScheme scheme = {})
      : tokenizer_(&tokenizer), scheme_(scheme) {}

  template <class Query>
  double operator()(const Query& /*query*/, std::span<const int32_t> z, bool stopped) const {
    return scheme_(parse_tokens(*tokenizer_, z, stopped));
  }

  const PpoRewardScheme& scheme() const { return scheme_; }

 private:
  const Tok* tokenizer_;
  PpoRewardScheme scheme_;
};

}  // namespace gfnlm::uniform_integers
