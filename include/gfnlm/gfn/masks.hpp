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
// - optionally, STOP is legal only right after one of a set of tokens (stop_after): a sentence
//   ends after ".", "!" or "?" (SPEC section 3's continuation task), an integer after a digit. A
//   task whose reward is negligible everywhere else then never spends rollouts or loss terms on
//   answers that cannot be rewarded, which is what lets a base that never ends an answer learn
//   (docs/concepts.md, "When the base never succeeds"). The root (no action yet) has no last
//   token, so STOP is illegal there too;
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
  // least one other token must be, or no sequence could be completed. stop_after empty: STOP may
  // follow any token; else only these (each allowed, none the stop token).
  LogitMask(int vocab_size, int32_t stop_token, int min_len,
            std::span<const int32_t> allowed_tokens = {}, std::span<const int32_t> stop_after = {})
      : stop_(stop_token),
        min_len_(min_len),
        allowed_(std::max(vocab_size, 0), allowed_tokens.empty() ? 1 : 0),
        all_allowed_(allowed_tokens.empty()),
        stop_after_(stop_after.empty() ? 0 : std::max(vocab_size, 0), 0) {
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
    for (std::size_t i = 0; i < stop_after.size(); ++i) {
      const int32_t token = stop_after[i];
      GFNLM_CHECK(token >= 0 && token < vocab_size,
                  "stop_after token {} (entry {}) is outside the vocabulary [0, {})", token, i,
                  vocab_size);
      GFNLM_CHECK(token != stop_token, "stop_after entry {} is the stop token {} itself", i,
                  stop_token);
      GFNLM_CHECK(allowed_[token],
                  "stop_after token {} (entry {}) is forbidden by the vocabulary "
                  "mask, so STOP could never follow it",
                  token, i);
      stop_after_[token] = 1;
    }
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
  // The stop_after tokens, ascending (empty: STOP may follow any token).
  std::vector<int32_t> stop_after_tokens() const {
    std::vector<int32_t> tokens;
    for (std::size_t v = 0; v < stop_after_.size(); ++v)
      if (stop_after_[v] != 0) tokens.push_back(static_cast<int32_t>(v));
    return tokens;
  }
  // True when STOP may follow `token` (always without a stop_after set).
  bool stop_may_follow(int32_t token) const {
    return stop_after_.empty() || (token >= 0 && token < static_cast<int32_t>(stop_after_.size()) &&
                                   stop_after_[token] != 0);
  }
  // STOP is illegal at a state with `length` actions taken, the last of them `last_action` (-1 at
  // the root, or where the caller has none and the mask does not restrict STOP).
  bool bans_stop(int length, int32_t last_action) const {
    if (length < min_len_) return true;
    return !stop_after_.empty() && (length == 0 || !stop_may_follow(last_action));
  }
  // STOP is illegal at the state reached by `actions`.
  bool bans_stop_after(std::span<const int32_t> actions) const {
    const int length = static_cast<int>(actions.size());
    return bans_stop(length, length > 0 ? actions.back() : -1);
  }

  // The mask at a state with `length` actions taken, the last `last_action`: forbidden tokens
  // and, where banned, STOP get -inf.
  void apply(std::span<float> logits, int length, int32_t last_action) const {
    for (std::size_t v = 0; v < logits.size(); ++v)
      if (allowed_[v] == 0) logits[v] = neg_inf<float>;
    if (bans_stop(length, last_action)) logits[stop_] = neg_inf<float>;
  }

 private:
  int32_t stop_ = 0;
  int min_len_ = 0;
  std::vector<uint8_t> allowed_;
  bool all_allowed_ = true;
  std::vector<uint8_t> stop_after_;  // [V] non-zero: STOP may follow; empty: no restriction
};

}  // namespace gfnlm
