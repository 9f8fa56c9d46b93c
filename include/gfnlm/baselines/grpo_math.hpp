#pragma once
// The arithmetic of GRPO (Shao et al. 2024, DeepSeekMath; as Hugging Face TRL's GRPOTrainer
// computes it), as pure functions checked against hand-computed values and finite differences:
// group-relative advantages, the per-token weights of TRL's loss normalisations, and the k3
// estimator of KL(pi || pi_ref) that GRPO adds to the loss (not to the reward, as PPO does). The
// clipped ratio itself is PPO's (baselines/ppo_math.hpp), with TRL's asymmetric range.
#include <gfnlm/baselines/ppo_math.hpp>
#include <gfnlm/core/error.hpp>

#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace gfnlm::grpo {

// How the summed per-token loss is normalised (TRL's `loss_type`). An episode's tokens are its
// actions and the STOP closing it (TRL's completion mask keeps the EOS token).
enum class LossType {
  grpo,     // mean over episodes of the episode's token mean (the DeepSeekMath paper's)
  dr_grpo,  // sum / (episodes x the longest possible episode): no length bias (Liu et al. 2025)
  dapo,     // sum / all tokens of the generation batch (TRL's default; Yu et al. 2025)
};
// How the advantages are scaled after subtracting the group mean (TRL's `scale_rewards`).
enum class ScaleRewards {
  group,  // by the group's standard deviation (TRL's default)
  batch,  // by the whole batch's
  none,   // not at all (Dr. GRPO)
};

inline std::string_view name(LossType t) {
  switch (t) {
    case LossType::grpo:
      return "grpo";
    case LossType::dr_grpo:
      return "dr_grpo";
    case LossType::dapo:
      return "dapo";
  }
  return "?";
}

// TRL adds this to the standard deviation before dividing, so a group whose completions all earn
// the same reward gets advantages 0, not NaN.
inline constexpr double kStdEpsilon = 1e-4;

struct AdvantageStats {
  double mean_group_std = 0;     // the groups' reward standard deviations, averaged
  double zero_std_fraction = 0;  // share of groups whose rewards are all equal: no signal
};

// The sample standard deviation (Bessel's correction, as torch.std) of x.
inline double sample_std(std::span<const double> x) {
  if (x.size() < 2) return 0;
  double mean = 0;
  for (double v : x) mean += v;
  mean /= double(x.size());
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / double(x.size() - 1));
}

// A_i = (R_i - mean of R over i's group) / (std + kStdEpsilon), std per `scale`; one advantage
// per episode, shared by all its tokens. rewards holds consecutive groups of group_size.
inline std::vector<double> group_advantages(std::span<const double> rewards, int group_size,
                                            ScaleRewards scale, AdvantageStats* stats = nullptr) {
  GFNLM_CHECK(group_size >= 2, "group_advantages: group size {} must be at least 2", group_size);
  GFNLM_CHECK(rewards.size() % std::size_t(group_size) == 0,
              "group_advantages: {} rewards do not split into groups of {}", rewards.size(),
              group_size);
  for (std::size_t i = 0; i < rewards.size(); ++i)
    GFNLM_CHECK(std::isfinite(rewards[i]),
                "group_advantages: reward {} of episode {} is not finite", rewards[i], i);
  const std::size_t groups = rewards.size() / std::size_t(group_size);
  const double batch_std = sample_std(rewards);
  std::vector<double> adv(rewards.size());
  AdvantageStats s;
  for (std::size_t g = 0; g < groups; ++g) {
    const auto r = rewards.subspan(g * group_size, group_size);
    double mean = 0;
    for (double v : r) mean += v;
    mean /= group_size;
    const double std = sample_std(r);
    s.mean_group_std += std / double(groups);
    bool all_equal = true;
    for (double v : r) all_equal = all_equal && v == r[0];
    s.zero_std_fraction += double(all_equal) / double(groups);
    const double divide = scale == ScaleRewards::group   ? std + kStdEpsilon
                          : scale == ScaleRewards::batch ? batch_std + kStdEpsilon
                                                         : 1.0;
    for (int i = 0; i < group_size; ++i) adv[g * group_size + i] = (r[i] - mean) / divide;
  }
  if (stats) *stats = s;
  return adv;
}

// The weight of each token of episode i in the loss, so that loss = sum over tokens of weight x
// per-token loss: grpo 1 / (episodes x n_i), dr_grpo 1 / (episodes x max_tokens), dapo
// 1 / (all tokens). `tokens` holds each episode's token count (actions plus its STOP),
// max_tokens the most an episode can have (max_len actions plus STOP). An episode of no tokens
// (a zero-length cut row) weighs nothing.
inline std::vector<double> episode_token_weights(LossType type, std::span<const int> tokens,
                                                 int max_tokens) {
  const std::size_t n = tokens.size();
  GFNLM_CHECK(n > 0, "episode_token_weights: no episodes");
  long total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    GFNLM_CHECK(tokens[i] >= 0 && tokens[i] <= max_tokens,
                "episode_token_weights: episode {} has {} tokens, outside [0, {}]", i, tokens[i],
                max_tokens);
    total += tokens[i];
  }
  std::vector<double> w(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    if (tokens[i] == 0) continue;
    switch (type) {
      case LossType::grpo:
        w[i] = 1.0 / (double(n) * tokens[i]);
        break;
      case LossType::dr_grpo:
        w[i] = 1.0 / (double(n) * max_tokens);
        break;
      case LossType::dapo:
        w[i] = 1.0 / double(total);
        break;
    }
  }
  return w;
}

struct TokenLossStats {
  double loss = 0;           // the weighted sum: clipped surrogate plus beta x KL
  double clip_fraction = 0;  // share of tokens on a clipped (zero-gradient) branch
  double approx_kl = 0;      // mean over tokens of log pi_old - log pi_new
  double mean_kl = 0;        // mean over tokens of the k3 estimate (0 without a reference)
};

// GRPO's per-token loss: -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) + beta k3, with k3 =
// exp(ref - new) - (ref - new) - 1 (Schulman's unbiased, positive estimator of KL(pi || pi_ref)),
// token t weighted by weights[t]; dlogp (overwritten) = d loss / d logp_new. logp_ref is read only
// when beta != 0 (and may then be empty).
inline TokenLossStats token_loss(std::span<const float> logp_new, std::span<const float> logp_old,
                                 std::span<const float> logp_ref, std::span<const float> advantages,
                                 std::span<const double> weights, double eps_low, double eps_high,
                                 double beta, std::span<float> dlogp) {
  const std::size_t n = logp_new.size();
  GFNLM_CHECK(weights.size() == n, "grpo::token_loss: {} weights for {} tokens", weights.size(), n);
  GFNLM_CHECK(std::isfinite(beta) && beta >= 0, "grpo::token_loss: beta {} must be >= 0", beta);
  const auto s = ppo::detail::clipped_surrogate(
      logp_new, logp_old, advantages, eps_low, eps_high,
      [&weights](std::size_t t) { return weights[t]; }, dlogp);
  TokenLossStats out{s.loss, s.clip_fraction, s.approx_kl, 0};
  if (beta == 0 || n == 0) return out;
  GFNLM_CHECK(logp_ref.size() == n, "grpo::token_loss: {} reference log-probs for {} tokens",
              logp_ref.size(), n);
  for (std::size_t t = 0; t < n; ++t) {
    const double d = double(logp_ref[t]) - double(logp_new[t]);
    const double k3 = std::exp(d) - d - 1;
    out.loss += beta * weights[t] * k3;
    out.mean_kl += k3 / double(n);
    dlogp[t] += static_cast<float>(beta * weights[t] * (1 - std::exp(d)));
  }
  return out;
}

}  // namespace gfnlm::grpo
