#pragma once
// The arithmetic of PPO for language models (Schulman et al. 2017; Ziegler et al. 2019; as in
// TRL's PPOTrainer and the paper's reference baseline), as pure functions over per-token arrays so
// each one is checked against hand-computed values. A "token" here is one action of a rollout,
// the final STOP included; a sequence of n actions has states s_0 .. s_{n-1} and rewards r_0 ..
// r_{n-1}.
#include <gfnlm/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace gfnlm::ppo {

struct SurrogateStats {
  double loss = 0;           // mean over tokens of max(-A r, -A clip(r, 1-eps, 1+eps))
  double clip_fraction = 0;  // share of tokens whose clipped branch was taken (zero gradient)
  double approx_kl = 0;      // mean of (log pi_old - log pi_new): how far the update moved
};

namespace detail {
// The clipped surrogate with token t weighted by weight(t) and clip range [1 - clip_low,
// 1 + clip_high]; what clipped_surrogate and GRPO's token loss (baselines/grpo_math.hpp) share.
template <class Weight>
SurrogateStats clipped_surrogate(std::span<const float> logp_new, std::span<const float> logp_old,
                                 std::span<const float> advantages, double clip_low,
                                 double clip_high, const Weight& weight, std::span<float> dlogp) {
  const std::size_t n = logp_new.size();
  GFNLM_CHECK(logp_old.size() == n && advantages.size() == n && dlogp.size() == n,
              "clipped_surrogate: sizes differ (new {}, old {}, advantages {}, grad {})", n,
              logp_old.size(), advantages.size(), dlogp.size());
  GFNLM_CHECK(clip_low > 0 && clip_low < 1 && clip_high > 0,
              "clipped_surrogate: clip range [1 - {}, 1 + {}] must hold 1 and stay positive",
              clip_low, clip_high);
  SurrogateStats s;
  if (n == 0) return s;
  for (std::size_t t = 0; t < n; ++t) {
    const double a = advantages[t], w = weight(t);
    const double log_ratio = double(logp_new[t]) - double(logp_old[t]);
    const double r = std::exp(log_ratio);
    const double clipped = std::clamp(r, 1.0 - clip_low, 1.0 + clip_high);
    const double unclipped_loss = -a * r, clipped_loss = -a * clipped;
    const bool clipped_active = clipped_loss > unclipped_loss;
    s.loss += w * std::max(unclipped_loss, clipped_loss);
    s.clip_fraction += clipped_active;
    s.approx_kl += -log_ratio;
    dlogp[t] = clipped_active ? 0.0f : static_cast<float>(-a * r * w);
  }
  s.clip_fraction /= double(n);
  s.approx_kl /= double(n);
  return s;
}
}  // namespace detail

// Clipped surrogate objective, per token, and its gradient wrt log pi_new. With ratio
// r = exp(logp_new - logp_old): loss_t = max(-A_t r_t, -A_t clip(r_t, 1-eps, 1+eps)). The clipped
// branch is the maximum only where it is constant (A > 0 and r > 1+eps, or A < 0 and r < 1-eps),
// so there the gradient is 0; elsewhere d loss_t / d logp_new = -A_t r_t. Every token is divided
// by `normaliser` (the token count of the minibatch when 0), and dlogp is overwritten.
inline SurrogateStats clipped_surrogate(std::span<const float> logp_new,
                                        std::span<const float> logp_old,
                                        std::span<const float> advantages, double clip,
                                        std::span<float> dlogp, double normaliser = 0) {
  const double norm = normaliser > 0 ? normaliser : double(logp_new.size());
  return detail::clipped_surrogate(
      logp_new, logp_old, advantages, clip, clip, [inv = 1.0 / norm](std::size_t) { return inv; },
      dlogp);
}

// Clipped value loss (TRL): 0.5 max((v - R)^2, (clip(v, v_old - c, v_old + c) - R)^2), divided by
// `normaliser` (token count when 0); dvalue = d loss / d v (overwritten). Returns the loss.
inline double clipped_value_loss(std::span<const float> value, std::span<const float> value_old,
                                 std::span<const float> returns, double clip,
                                 std::span<float> dvalue, double normaliser = 0) {
  const std::size_t n = value.size();
  GFNLM_CHECK(value_old.size() == n && returns.size() == n && dvalue.size() == n,
              "clipped_value_loss: sizes differ (value {}, old {}, returns {}, grad {})", n,
              value_old.size(), returns.size(), dvalue.size());
  if (n == 0) return 0;
  const double norm = normaliser > 0 ? normaliser : double(n);
  double loss = 0;
  for (std::size_t t = 0; t < n; ++t) {
    const double v = value[t], ret = returns[t];
    const double vc = std::clamp(v, double(value_old[t]) - clip, double(value_old[t]) + clip);
    const double l1 = (v - ret) * (v - ret), l2 = (vc - ret) * (vc - ret);
    loss += 0.5 * std::max(l1, l2);
    // The clipped term depends on v only inside the clip range, where it equals the first.
    dvalue[t] = (l1 >= l2) ? static_cast<float>((v - ret) / norm) : 0.0f;
  }
  return loss / norm;
}

// Per-token rewards of RLHF-style PPO: r_t = -beta (log pi_old(a_t) - log pi_ref(a_t)), plus the
// task's scalar reward on the last action. The sum of the penalty terms is -beta times the
// sample estimate of KL(pi || pi_ref) for the sequence.
inline void kl_penalised_rewards(std::span<const float> logp, std::span<const float> logp_ref,
                                 double beta, double terminal_reward, std::span<float> rewards) {
  const std::size_t n = logp.size();
  GFNLM_CHECK(logp_ref.size() == n && rewards.size() == n,
              "kl_penalised_rewards: sizes differ (logp {}, ref {}, rewards {})", n,
              logp_ref.size(), rewards.size());
  for (std::size_t t = 0; t < n; ++t)
    rewards[t] = static_cast<float>(-beta * (double(logp[t]) - double(logp_ref[t])));
  if (n > 0) rewards[n - 1] += static_cast<float>(terminal_reward);
}

// Generalised advantage estimation (Schulman et al. 2016) over one finished sequence:
// delta_t = r_t + gamma V(s_{t+1}) - V(s_t) with V after the last action = 0 (the episode ended),
// A_t = delta_t + gamma lambda A_{t+1}; returns_t = A_t + V(s_t) (the value targets).
inline void gae(std::span<const float> rewards, std::span<const float> values, double gamma,
                double lambda, std::span<float> advantages, std::span<float> returns) {
  const std::size_t n = rewards.size();
  GFNLM_CHECK(values.size() == n && advantages.size() == n && returns.size() == n,
              "gae: sizes differ (rewards {}, values {}, advantages {}, returns {})", n,
              values.size(), advantages.size(), returns.size());
  double next_value = 0, next_adv = 0;
  for (std::size_t k = n; k-- > 0;) {
    const double delta = rewards[k] + gamma * next_value - values[k];
    const double adv = delta + gamma * lambda * next_adv;
    advantages[k] = static_cast<float>(adv);
    returns[k] = static_cast<float>(adv + values[k]);
    next_value = values[k];
    next_adv = adv;
  }
}

// x <- (x - mean) / (std + 1e-8), population std (TRL whitens advantages over the batch).
inline void whiten(std::span<float> x) {
  if (x.empty()) return;
  double mean = 0;
  for (float v : x) mean += v;
  mean /= double(x.size());
  double var = 0;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= double(x.size());
  const double inv = 1.0 / (std::sqrt(var) + 1e-8);
  for (float& v : x) v = static_cast<float>((v - mean) * inv);
}

// Adaptive KL coefficient (Ziegler et al. 2019, section 2.2): keeps the observed KL(pi || pi_ref)
// per sequence near `target` by beta <- beta (1 + clip(KL / target - 1, -0.2, 0.2) n / horizon),
// where n is the number of sequences the KL was measured on.
class AdaptiveKlController {
 public:
  AdaptiveKlController(double init_beta, double target, double horizon)
      : beta_(init_beta), target_(target), horizon_(horizon) {
    GFNLM_CHECK(init_beta >= 0, "AdaptiveKlController: initial beta {} is negative", init_beta);
    GFNLM_CHECK(target > 0 && horizon > 0,
                "AdaptiveKlController: target {} and horizon {} must be positive", target, horizon);
  }

  void update(double observed_kl, int n_sequences) {
    const double error = std::clamp(observed_kl / target_ - 1.0, -0.2, 0.2);
    beta_ *= 1.0 + error * double(n_sequences) / horizon_;
  }

  double beta() const { return beta_; }
  double target() const { return target_; }
  double horizon() const { return horizon_; }
  void set_beta(double beta) { beta_ = beta; }

 private:
  double beta_, target_, horizon_;
};

}  // namespace gfnlm::ppo
