#pragma once
// PPO fine-tuning of a policy against a scalar reward with a KL penalty to a reference policy, the
// RLHF recipe of Ziegler et al. (2019) as TRL's PPOTrainer and the paper's reference baseline run
// it (SPEC section 6). One train_step:
//   1. roll out one episode per query with the current policy (baselines/rollout.hpp), the tool,
//      if any, running inside the rollouts;
//   2. score the episodes: terminal reward R, log pi_old and log pi_ref of every action (STOP
//      included, read from Policy::score's log_pf / log_stop by baselines/episode.hpp),
//      per-token rewards r_t = -beta (log pi_old - log pi_ref) + [t last] R;
//   3. values from the critic, GAE(gamma, lambda) advantages (whitened over the batch) and
//      returns;
//   4. `epochs` passes of shuffled minibatches: the policy scores the minibatch, the clipped
//      surrogate gives d loss / d log pi of every action, episode_grad places it in a
//      TrajectoryGrad and Policy::backward turns it into parameter gradients; clipped value
//      loss on the critic; one AdamW step each (the policy's with PolicyOptimizer<P>, so it runs
//      where the parameters live);
//   5. the adaptive controller moves beta toward the target KL.
// Works with any gfnlm::Policy: the transformer-backed LmPolicy with LoRA, or TabularPolicy.
#include <gfnlm/baselines/episode.hpp>
#include <gfnlm/baselines/ppo_math.hpp>
#include <gfnlm/baselines/rollout.hpp>
#include <gfnlm/baselines/value_head.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/optimizer.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

struct PpoConfig {
  int max_len = 16;         // actions per episode before STOP is forced
  int minibatch_size = 16;  // episodes per gradient step
  int epochs = 4;           // passes over each rollout batch
  double clip = 0.2;        // ratio clip range epsilon
  double value_clip = 0.2;  // critic clip range (TRL's cliprange_value)
  double gamma = 1.0;
  double lambda = 0.95;    // GAE
  double lr = 1e-4;        // policy AdamW learning rate (SPEC section 4)
  double value_lr = 0.05;  // critic AdamW learning rate (a table learns fast)
  double max_grad_norm = 1.0;
  double init_kl_coef = 0.2;  // beta at the start (TRL's default)
  double target_kl = 6.0;     // nats per episode the controller aims at (TRL's default)
  double kl_horizon = 10000;  // episodes
  bool adaptive_kl = true;    // false: beta stays init_kl_coef
  bool whiten_advantages = true;
  double temperature = 1.0;  // sampling temperature of the rollouts
};

struct PpoStats {
  double mean_reward = 0;  // terminal task reward, mean over episodes
  double mean_kl = 0;      // sum over actions of log pi_old - log pi_ref, mean over episodes
  double beta = 0;         // the KL coefficient used for this batch
  double policy_loss = 0;  // clipped surrogate, mean over minibatches
  double value_loss = 0;
  double clip_fraction = 0;
  double approx_kl = 0;    // how far the epochs moved the policy (mean log pi_old - log pi_new)
  double mean_length = 0;  // actions per episode, STOP included
};

// Ref is called as ref(row_queries, mask, batch) and fills batch.log_pf / batch.log_stop of the
// reference policy exactly like Policy::score (the batch is a copy of the rollouts, carrying their
// tool context); Reward as reward(query, actions, stopped). `mask` (null: none, i.e. a default
// all-allowed LogitMask) applies to the rollouts and to every score; `tool`, when set, runs after
// each action of the rollouts (gfn/tool.hpp).
template <Policy P, class Ref, class Reward>
class PpoTrainer {
 public:
  using Query = typename P::Query;

  PpoTrainer(P& policy, Ref reference, Reward reward, PpoConfig config, uint64_t seed,
             const LogitMask* mask = nullptr, ToolFunction<Query> tool = {})
      : policy_(&policy),
        reference_(std::move(reference)),
        reward_(std::move(reward)),
        config_(config),
        rng_(seed),
        user_mask_(mask),
        default_mask_(policy.vocab_size(), policy.stop_token(), 0),
        tool_(std::move(tool)),
        value_(config.max_len, policy.vocab_size()),
        optimizer_(policy.parameters(), AdamWConfig{.lr = config.lr}),
        value_optimizer_(value_.parameters(), AdamWConfig{.lr = config.value_lr}),
        kl_(config.init_kl_coef, config.target_kl, config.kl_horizon) {
    GFNLM_CHECK(config.minibatch_size > 0 && config.epochs > 0,
                "PpoConfig: minibatch_size {} and epochs {} must be positive",
                config.minibatch_size, config.epochs);
    GFNLM_CHECK(config.gamma >= 0 && config.gamma <= 1 && config.lambda >= 0 && config.lambda <= 1,
                "PpoConfig: gamma {} and lambda {} must lie in [0, 1]", config.gamma,
                config.lambda);
  }

  // One rollout batch (one episode per entry of row_queries) and its updates.
  PpoStats train_step(std::span<const Query> row_queries) {
    const int rows = static_cast<int>(row_queries.size());
    GFNLM_CHECK(rows > 0, "PpoTrainer::train_step: no queries");
    const int32_t stop = policy_->stop_token();
    PpoStats stats;
    stats.beta = kl_.beta();

    const LogitMask& mask = this->mask();

    // 1-2. Rollouts, rewards, old and reference log-probs.
    batch_ = sample_rollouts(*policy_, row_queries, {config_.max_len, config_.temperature, &mask},
                             rng_, tool_);
    rewards_.assign(rows, 0.0);
    for (int b = 0; b < rows; ++b) {
      rewards_[b] =
          double(reward_(row_queries[b], row_actions(batch_, b), bool(batch_.stopped[b])));
      stats.mean_reward += rewards_[b] / rows;
    }
    const auto actions = episode_actions(batch_, stop);
    policy_->score(row_queries, mask, batch_);
    const auto logp_old = episode_log_probs(batch_, actions);
    TrajectoryBatch ref_batch = batch_;
    reference_(row_queries, mask, ref_batch);
    const auto logp_ref = episode_log_probs(ref_batch, actions);

    // 3. Per-token rewards, values, GAE, per row (actions are row-major and contiguous).
    const std::size_t n = actions.size();
    std::vector<float> values(n), token_rewards(n), advantages(n), returns(n);
    std::vector<std::size_t> row_begin(rows + 1, 0);
    for (const auto& a : actions) ++row_begin[a.row + 1];
    for (int b = 0; b < rows; ++b) row_begin[b + 1] += row_begin[b];
    for (std::size_t i = 0; i < n; ++i) values[i] = value_.value(actions[i].t, actions[i].previous);
    for (int b = 0; b < rows; ++b) {
      const std::size_t lo = row_begin[b], len = row_begin[b + 1] - lo;
      auto sub = [&](auto& v) { return std::span(v).subspan(lo, len); };
      for (std::size_t i = lo; i < lo + len; ++i)
        stats.mean_kl += (logp_old[i] - logp_ref[i]) / rows;
      ppo::kl_penalised_rewards(sub(logp_old), sub(logp_ref), kl_.beta(), rewards_[b],
                                sub(token_rewards));
      ppo::gae(sub(token_rewards), sub(values), config_.gamma, config_.lambda, sub(advantages),
               sub(returns));
    }
    if (config_.whiten_advantages) ppo::whiten(advantages);
    stats.mean_length = double(n) / rows;

    // 4. Epochs of minibatch updates.
    std::vector<int> order(rows);
    std::iota(order.begin(), order.end(), 0);
    auto params = policy_->parameters();
    auto value_params = value_.parameters();
    int updates = 0;
    for (int epoch = 0; epoch < config_.epochs; ++epoch) {
      for (int i = rows - 1; i > 0; --i) std::swap(order[i], order[rng_.below(i + 1)]);
      for (int start = 0; start < rows; start += config_.minibatch_size) {
        const int stop_row = std::min(rows, start + config_.minibatch_size);
        std::vector<int> mb_rows(order.begin() + start, order.begin() + stop_row);
        std::sort(mb_rows.begin(), mb_rows.end());
        auto mb = slice_rows(batch_, mb_rows);
        std::vector<Query> mb_queries;
        mb_queries.reserve(mb_rows.size());
        for (int b : mb_rows) mb_queries.push_back(row_queries[b]);
        // Gather this minibatch's actions and their stored quantities.
        std::vector<EpisodeAction> mb_actions;
        std::vector<float> old, adv, ret, v_old, v_new;
        for (std::size_t r = 0; r < mb_rows.size(); ++r) {
          const int b = mb_rows[r];
          for (std::size_t i = row_begin[b]; i < row_begin[b + 1]; ++i) {
            auto a = actions[i];
            a.row = static_cast<int>(r);
            mb_actions.push_back(a);
            old.push_back(logp_old[i]);
            adv.push_back(advantages[i]);
            ret.push_back(returns[i]);
            v_old.push_back(values[i]);
            v_new.push_back(value_.value(a.t, a.previous));
          }
        }
        if (mb_actions.empty()) continue;
        // Policy: score, surrogate gradient wrt log pi, as a TrajectoryGrad, backward, step.
        policy_->score(std::span<const Query>(mb_queries), mask, mb);
        const auto logp_new = episode_log_probs(mb, mb_actions);
        std::vector<float> dlogp(mb_actions.size());
        const auto s = ppo::clipped_surrogate(logp_new, old, adv, config_.clip, dlogp);
        const TrajectoryGrad grad = episode_grad(mb, mb_actions, dlogp);
        PolicyOpt::zero_grad(params);
        policy_->backward(grad, 1.0);
        PolicyOpt::clip_grad_norm(params, config_.max_grad_norm);
        optimizer_.step(1.0);
        // Critic.
        std::vector<float> dvalue(mb_actions.size());
        stats.value_loss += ppo::clipped_value_loss(v_new, v_old, ret, config_.value_clip, dvalue);
        zero_grad(value_params);
        for (std::size_t i = 0; i < mb_actions.size(); ++i)
          value_.accumulate(mb_actions[i].t, mb_actions[i].previous, dvalue[i]);
        value_optimizer_.step();
        stats.policy_loss += s.loss;
        stats.clip_fraction += s.clip_fraction;
        stats.approx_kl += s.approx_kl;
        ++updates;
      }
    }
    if (updates > 0) {
      stats.policy_loss /= updates;
      stats.value_loss /= updates;
      stats.clip_fraction /= updates;
      stats.approx_kl /= updates;
    }
    // 5. KL controller (after the step, as TRL does).
    if (config_.adaptive_kl) kl_.update(stats.mean_kl, rows);
    return stats;
  }

  const TrajectoryBatch& last_batch() const { return batch_; }
  const std::vector<double>& last_rewards() const { return rewards_; }
  const ppo::AdaptiveKlController& kl_controller() const { return kl_; }
  const TabularValueHead& value_head() const { return value_; }
  const PpoConfig& config() const { return config_; }
  // The mask of the rollouts and of every score (the caller's, or the default all-allowed one).
  const LogitMask& mask() const { return user_mask_ ? *user_mask_ : default_mask_; }
  Rng& rng() { return rng_; }

 private:
  using PolicyOpt = PolicyOptimizer<P>;

  P* policy_;
  Ref reference_;
  Reward reward_;
  PpoConfig config_;
  Rng rng_;
  const LogitMask* user_mask_;
  LogitMask default_mask_;
  ToolFunction<Query> tool_;
  TabularValueHead value_;
  PolicyOpt optimizer_;
  AdamW<float> value_optimizer_;
  ppo::AdaptiveKlController kl_;
  TrajectoryBatch batch_;
  std::vector<double> rewards_;
};

// The reference of PPO as a separate frozen policy (for LmPolicy: one over a copy of the base
// model without adapters; LmPolicy::score switches adapters on, so the same object cannot serve):
// ref(queries, mask, batch) fills batch.log_pf / log_stop with reference.score. It never calls
// backward, so the reference's parameters stay as they are.
template <Policy P>
auto frozen_reference(P& reference) {
  return [&reference](std::span<const typename P::Query> queries, const LogitMask& mask,
                      TrajectoryBatch& batch) { reference.score(queries, mask, batch); };
}

}  // namespace gfnlm
