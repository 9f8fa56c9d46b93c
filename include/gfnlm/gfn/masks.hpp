#pragma once
// Logit masks applied before the softmax (SPEC section 4). A policy applies them inside its fused
// log-softmax and its draw (backend/row_mask.hpp: allowed_bytes() is the vocabulary part, and
// STOP is banned at states with fewer than min_len actions), so no masked copy of logits exists.
//
// Both masks act the same way on the behaviour policy and in the loss (SPEC section 4: "Masks
// (vocabulary, min/max length) are applied to logits before the softmax"), so the q the objectives
// read is exactly the distribution on-policy rollouts draw from:
// - the vocabulary mask (tokens the user allows): forbidden tokens get -inf;
// - STOP is illegal before min_len: log q(STOP | s_t) = -inf there, and the objectives do not use
//   such a state as an end point of a balance term (gfn/objectives/objective.hpp); its log R is
//   still set to the min-length penalty (SPEC section 3) for objectives or users that read it;
// - a row that reaches max_len stops there without a draw: it counts as stopped with
//   q(STOP) = 1 (TrajectoryBatch::stopped = false), so no max-length mask is needed on logits.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

class LogitMask {
 public:
  LogitMask() = default;

  // allowed_tokens empty: every token is allowed. STOP must be allowed, and when min_len > 0 at
  // least one other token must be, or no sequence could be completed.
  LogitMask(int vocab_size, int32_t stop_token, int min_len,
            std::span<const int32_t> allowed_tokens = {})
      : stop_(stop_token),
        min_len_(min_len),
        allowed_(std::max(vocab_size, 0), allowed_tokens.empty() ? 1 : 0),
        all_allowed_(allowed_tokens.empty()) {
    GFNLM_CHECK(vocab_size > 0, "vocab_size must be positive, got {}", vocab_size);
    GFNLM_CHECK(stop_token >= 0 && stop_token < vocab_size,
                "stop token {} is outside the vocabulary [0, {})", stop_token, vocab_size);
    GFNLM_CHECK(min_len >= 0, "min_len must be >= 0, got {}", min_len);
    for (int32_t token : allowed_tokens) {
      GFNLM_CHECK(token >= 0 && token < vocab_size,
                  "allowed token {} is outside the vocabulary [0, {})", token, vocab_size);
      allowed_[token] = true;
    }
    GFNLM_CHECK(allowed_[stop_token], "the vocabulary mask must allow the stop token {}",
                stop_token);
    bool other = false;
    for (int v = 0; v < vocab_size; ++v) other = other || (allowed_[v] != 0 && v != stop_token);
    GFNLM_CHECK(min_len == 0 || other,
                "min_len is {} but the vocabulary mask allows only the stop token", min_len);
  }

  int vocab_size() const { return static_cast<int>(allowed_.size()); }
  int32_t stop_token() const { return stop_; }
  int min_len() const { return min_len_; }
  bool allowed(int32_t token) const {
    return token >= 0 && token < vocab_size() && allowed_[token] != 0;
  }
  // True when the vocabulary mask forbids nothing.
  bool all_allowed() const { return all_allowed_; }
  // [V] non-zero = allowed (RowMask::allowed).
  std::span<const uint8_t> allowed_bytes() const { return allowed_; }
  // STOP is illegal at a state with `length` actions taken.
  bool bans_stop(int length) const { return length < min_len_; }

  // The mask at a state with `length` actions taken: forbidden tokens and, before min_len, STOP
  // get -inf.
  void apply(std::span<float> logits, int length) const {
    for (std::size_t v = 0; v < logits.size(); ++v)
      if (allowed_[v] == 0) logits[v] = neg_inf<float>;
    if (length < min_len_) logits[stop_] = neg_inf<float>;
  }

 private:
  int32_t stop_ = 0;
  int min_len_ = 0;
  std::vector<uint8_t> allowed_;
  bool all_allowed_ = true;
};

}  // namespace gfnlm
