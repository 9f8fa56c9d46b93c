#pragma once
// The small RL problem the PPO and GRPO tests share: a TabularPolicy over tokens {0, 1, 2} plus
// STOP = 3, answers of at most 3 tokens, one query, and +1 for exactly "0 1 STOP".
#include <gfnlm/policies/tabular.hpp>

#include <cmath>
#include <cstdint>
#include <span>

namespace gfnlm::test {

inline constexpr int kVocab = 4, kStop = 3, kMaxLen = 3;

// Exact KL(p || q) between two tabular policies' terminal distributions.
inline double exact_kl(const TabularPolicy& p, const TabularPolicy& q) {
  const auto lp = p.terminal_log_probs(0), lq = q.terminal_log_probs(0);
  double kl = 0;
  for (std::size_t i = 0; i < lp.size(); ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
  return kl;
}

// +1 for exactly "0 1 STOP", 0 otherwise.
inline double target_reward(int, std::span<const int32_t> z, bool stopped) {
  return (stopped && z.size() == 2 && z[0] == 0 && z[1] == 1) ? 1.0 : 0.0;
}

}  // namespace gfnlm::test
