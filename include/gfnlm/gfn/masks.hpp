#pragma once
// Logit masks applied before the softmax (SPEC section 4), and the masked log-softmax with its
// backward that turn policy logits into the log q the objectives read.
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

#include <cmath>
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
      : stop_(stop_token), min_len_(min_len), allowed_(vocab_size, allowed_tokens.empty()) {
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
    for (int v = 0; v < vocab_size; ++v) other = other || (allowed_[v] && v != stop_token);
    GFNLM_CHECK(min_len == 0 || other,
                "min_len is {} but the vocabulary mask allows only the stop token", min_len);
  }

  int vocab_size() const { return static_cast<int>(allowed_.size()); }
  int32_t stop_token() const { return stop_; }
  int min_len() const { return min_len_; }
  bool allowed(int32_t token) const {
    return token >= 0 && token < vocab_size() && allowed_[token];
  }

  // The mask at a state with `length` actions taken: forbidden tokens and, before min_len, STOP
  // get -inf.
  void apply(std::span<float> logits, int length) const {
    for (std::size_t v = 0; v < logits.size(); ++v)
      if (!allowed_[v]) logits[v] = neg_inf<float>;
    if (length < min_len_) logits[stop_] = neg_inf<float>;
  }

 private:
  int32_t stop_ = 0;
  int min_len_ = 0;
  std::vector<bool> allowed_;
};

// log-softmax of already-masked logits in double (so -inf entries get log-prob -inf).
inline void masked_log_softmax(std::span<const float> logits, std::span<double> out) {
  double hi = neg_inf<double>;
  for (float v : logits) hi = std::max(hi, static_cast<double>(v));
  GFNLM_CHECK(hi > neg_inf<double> && std::isfinite(hi),
              "policy logits are all masked or not finite (max {})", hi);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - hi);
  const double lse = hi + std::log(sum);
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

// Backward of log p = masked_log_softmax(l) for a state whose loss reads log p[action] with
// gradient g_action and log p[stop] with gradient g_stop: dL/dl_j = g_a [j = a] + g_s [j = stop]
// - (g_a + g_s) p_j. Masked entries (p_j = 0) get zero; a masked STOP takes no gradient (its
// logit is a constant -inf). action < 0: no action term.
inline void masked_log_softmax_backward(std::span<const double> log_probs, int32_t action,
                                        double g_action, int32_t stop, double g_stop,
                                        std::span<float> dlogits) {
  if (log_probs[stop] == neg_inf<double>) g_stop = 0.0;
  const double total = (action >= 0 ? g_action : 0.0) + g_stop;
  for (std::size_t j = 0; j < log_probs.size(); ++j)
    dlogits[j] = static_cast<float>(-total * std::exp(log_probs[j]));
  if (action >= 0) dlogits[action] += static_cast<float>(g_action);
  dlogits[stop] += static_cast<float>(g_stop);
}

}  // namespace gfnlm
