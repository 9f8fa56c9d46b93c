#pragma once
// GRPO (Shao et al. 2024, DeepSeekMath) as Hugging Face TRL's GRPOTrainer runs it: no value
// head; each query's G completions are compared with each other. One train_step:
//   1. roll out G episodes per query with the current policy (baselines/rollout.hpp; the tool,
//      if any, runs inside them), and score them with the reward;
//   2. group-relative advantages (baselines/grpo_math.hpp): the reward minus its group's mean,
//      divided by the group's (or batch's) standard deviation, one per episode;
//   3. log pi_old of every action (STOP included) from Policy::score, and log pi_ref from the
//      reference when beta > 0;
//   4. num_iterations passes; each pass takes the batch in minibatches of whole groups (all of
//      it by default, TRL's one optimiser step per generation batch), and per minibatch: score,
//      clipped ratio + beta k3 per token, normalised per loss_type, Policy::backward, clip, one
//      AdamW step. The first pass over a whole batch reuses step 3's score (ratio 1, as TRL).
// Works with any gfnlm::Policy: LmPolicy with LoRA, or TabularPolicy.
#include <gfnlm/baselines/episode.hpp>
#include <gfnlm/baselines/grpo_math.hpp>
#include <gfnlm/baselines/rollout.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/optimizer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

// TRL's GRPOConfig defaults, except the learning rate (TRL's 1e-6 is for full fine-tuning of
// billion-parameter models; the LoRA adapters here take PPO's 1e-4, SPEC section 4).
struct GrpoConfig {
  int num_generations = 8;  // G: episodes per query, compared within their group
  int max_len = 16;         // actions per episode before STOP is forced
  double temperature = 1.0;
  double epsilon = 0.2;       // ratio clip below: 1 - epsilon
  double epsilon_high = 0.2;  // ratio clip above: 1 + epsilon_high (DAPO raises it to 0.28)
  double beta = 0.0;          // weight of the k3 KL to the reference (0: the reference is unused)
  int num_iterations = 1;     // passes over each generation batch (mu of the paper)
  int minibatch_groups = 0;   // groups per optimiser step; 0: the whole batch
  grpo::LossType loss_type = grpo::LossType::dapo;
  grpo::ScaleRewards scale_rewards = grpo::ScaleRewards::group;
  double lr = 1e-4;
  double max_grad_norm = 1.0;

  void validate() const {
    GFNLM_CHECK(num_generations >= 2,
                "GrpoConfig: num_generations = {} must be >= 2 (advantages compare a group)",
                num_generations);
    GFNLM_CHECK(max_len >= 1, "GrpoConfig: max_len = {} must be >= 1", max_len);
    GFNLM_CHECK(std::isfinite(temperature) && temperature > 0,
                "GrpoConfig: temperature = {} must be > 0", temperature);
    GFNLM_CHECK(epsilon > 0 && epsilon < 1, "GrpoConfig: epsilon = {} must lie in (0, 1)", epsilon);
    GFNLM_CHECK(std::isfinite(epsilon_high) && epsilon_high > 0,
                "GrpoConfig: epsilon_high = {} must be > 0", epsilon_high);
    GFNLM_CHECK(std::isfinite(beta) && beta >= 0, "GrpoConfig: beta = {} must be >= 0", beta);
    GFNLM_CHECK(num_iterations >= 1, "GrpoConfig: num_iterations = {} must be >= 1",
                num_iterations);
    GFNLM_CHECK(minibatch_groups >= 0, "GrpoConfig: minibatch_groups = {} must be >= 0",
                minibatch_groups);
    GFNLM_CHECK(std::isfinite(lr) && lr > 0, "GrpoConfig: lr = {} must be > 0", lr);
    GFNLM_CHECK(std::isfinite(max_grad_norm) && max_grad_norm > 0,
                "GrpoConfig: max_grad_norm = {} must be > 0", max_grad_norm);
  }
};

struct GrpoStats {
  double mean_reward = 0;        // over all episodes
  double mean_group_std = 0;     // reward standard deviation within a group, averaged
  double zero_std_fraction = 0;  // groups whose episodes all earned the same reward
  double loss = 0;               // mean over optimiser steps
  double clip_fraction = 0;
  double approx_kl = 0;    // how far the passes moved the policy (mean log pi_old - log pi_new)
  double mean_kl = 0;      // k3 per token to the reference (0 when beta = 0)
  double mean_length = 0;  // actions per episode, STOP included
  int updates = 0;         // optimiser steps taken
};

// Ref is called as ref(row_queries, mask, batch) and fills batch.log_pf / log_stop of the
// reference like Policy::score (baselines/ppo.hpp's frozen_reference); it is called only when
// beta > 0. Reward as reward(query, actions, stopped) -> a finite number. `mask` (null: all
// allowed) applies to the rollouts and every score; `tool`, when set, runs after each action.
template <Policy P, class Ref, class Reward>
class GrpoTrainer {
 public:
  using Query = typename P::Query;

  GrpoTrainer(P& policy, Ref reference, Reward reward, GrpoConfig config, uint64_t seed,
              const LogitMask* mask = nullptr, ToolFunction<Query> tool = {})
      : policy_(&policy),
        reference_(std::move(reference)),
        reward_(std::move(reward)),
        config_((config.validate(), config)),
        rng_(seed),
        user_mask_(mask),
        default_mask_(policy.vocab_size(), policy.stop_token(), 0),
        tool_(std::move(tool)),
        optimizer_(policy.parameters(), AdamWConfig{.lr = config.lr}) {}

  // One generation batch: num_generations episodes for each query, then the updates.
  GrpoStats train_step(std::span<const Query> queries) {
    GFNLM_CHECK(!queries.empty(), "GrpoTrainer::train_step: no queries");
    const int g = config_.num_generations;
    const int groups = static_cast<int>(queries.size());
    const int rows = groups * g;
    std::vector<Query> row_queries;
    row_queries.reserve(rows);
    for (const auto& q : queries) row_queries.insert(row_queries.end(), g, q);
    const LogitMask& mask = this->mask();
    GrpoStats stats;

    // 1-2. Rollouts, rewards, advantages.
    batch_ = sample_rollouts(*policy_, std::span<const Query>(row_queries),
                             {config_.max_len, config_.temperature, &mask}, rng_, tool_);
    rewards_.assign(rows, 0.0);
    for (int b = 0; b < rows; ++b) {
      rewards_[b] =
          double(reward_(row_queries[b], row_actions(batch_, b), bool(batch_.stopped[b])));
      GFNLM_CHECK(std::isfinite(rewards_[b]),
                  "GrpoTrainer: the reward of row {} (query {}, {} actions) is {}", b, b / g,
                  batch_.length[b], rewards_[b]);
      stats.mean_reward += rewards_[b] / rows;
    }
    grpo::AdvantageStats adv_stats;
    const auto advantages = grpo::group_advantages(rewards_, g, config_.scale_rewards, &adv_stats);
    stats.mean_group_std = adv_stats.mean_group_std;
    stats.zero_std_fraction = adv_stats.zero_std_fraction;

    // 3. Old and reference log-probs of every action.
    const auto actions = episode_actions(batch_, policy_->stop_token());
    std::vector<std::size_t> row_begin(rows + 1, 0);
    for (const auto& a : actions) ++row_begin[a.row + 1];
    for (int b = 0; b < rows; ++b) row_begin[b + 1] += row_begin[b];
    stats.mean_length = double(actions.size()) / rows;
    policy_->score(std::span<const Query>(row_queries), mask, batch_);
    const auto logp_old = episode_log_probs(batch_, actions);
    std::vector<float> logp_ref;
    if (config_.beta > 0) {
      TrajectoryBatch ref_batch = batch_;
      reference_(std::span<const Query>(row_queries), mask, ref_batch);
      logp_ref = episode_log_probs(ref_batch, actions);
    }

    // 4. Passes of minibatch updates over whole groups.
    const int mb_groups =
        config_.minibatch_groups > 0 ? std::min(config_.minibatch_groups, groups) : groups;
    std::vector<int> order(groups);
    std::iota(order.begin(), order.end(), 0);
    auto params = policy_->parameters();
    for (int pass = 0; pass < config_.num_iterations; ++pass) {
      if (mb_groups < groups)
        for (int i = groups - 1; i > 0; --i) std::swap(order[i], order[rng_.below(i + 1)]);
      for (int start = 0; start < groups; start += mb_groups) {
        std::vector<int> mb_group_ids(order.begin() + start,
                                      order.begin() + std::min(groups, start + mb_groups));
        std::sort(mb_group_ids.begin(), mb_group_ids.end());
        std::vector<int> mb_rows;
        for (int q : mb_group_ids)
          for (int i = 0; i < g; ++i) mb_rows.push_back(q * g + i);
        const bool whole_batch = int(mb_rows.size()) == rows;
        update(stats, pass == 0 && whole_batch, mb_rows, row_queries, actions, row_begin,
               advantages, logp_old, logp_ref, mask, params);
      }
    }
    if (stats.updates > 0) {
      stats.loss /= stats.updates;
      stats.clip_fraction /= stats.updates;
      stats.approx_kl /= stats.updates;
      stats.mean_kl /= stats.updates;
    }
    return stats;
  }

  const TrajectoryBatch& last_batch() const { return batch_; }
  const std::vector<double>& last_rewards() const { return rewards_; }
  const GrpoConfig& config() const { return config_; }
  const LogitMask& mask() const { return user_mask_ ? *user_mask_ : default_mask_; }
  Rng& rng() { return rng_; }

 private:
  using PolicyOpt = PolicyOptimizer<P>;

  // One optimiser step on the episodes mb_rows (ascending). reuse_score: the policy's last score
  // is of this very batch at the parameters the episodes were drawn with (log pi_new = log pi_old).
  void update(GrpoStats& stats, bool reuse_score, const std::vector<int>& mb_rows,
              const std::vector<Query>& row_queries, const std::vector<EpisodeAction>& actions,
              const std::vector<std::size_t>& row_begin, const std::vector<double>& advantages,
              const std::vector<float>& logp_old, const std::vector<float>& logp_ref,
              const LogitMask& mask, const ParameterList<float>& params) {
    std::vector<EpisodeAction> mb_actions;
    std::vector<float> old, ref, adv;
    std::vector<double> weights;
    std::vector<int> tokens;
    for (int b : mb_rows) tokens.push_back(int(row_begin[b + 1] - row_begin[b]));
    const auto episode_weight =
        grpo::episode_token_weights(config_.loss_type, tokens, config_.max_len + 1);
    for (std::size_t r = 0; r < mb_rows.size(); ++r) {
      const int b = mb_rows[r];
      for (std::size_t i = row_begin[b]; i < row_begin[b + 1]; ++i) {
        auto a = actions[i];
        if (!reuse_score) a.row = static_cast<int>(r);
        mb_actions.push_back(a);
        old.push_back(logp_old[i]);
        if (!logp_ref.empty()) ref.push_back(logp_ref[i]);
        adv.push_back(static_cast<float>(advantages[b]));
        weights.push_back(episode_weight[r]);
      }
    }
    if (mb_actions.empty()) return;
    TrajectoryBatch mb_batch;
    const TrajectoryBatch* scored = &batch_;
    std::vector<float> logp_new;
    if (reuse_score) {
      logp_new = old;
    } else {
      mb_batch = slice_rows(batch_, mb_rows);
      std::vector<Query> mb_queries;
      mb_queries.reserve(mb_rows.size());
      for (int b : mb_rows) mb_queries.push_back(row_queries[b]);
      policy_->score(std::span<const Query>(mb_queries), mask, mb_batch);
      logp_new = episode_log_probs(mb_batch, mb_actions);
      scored = &mb_batch;
    }
    std::vector<float> dlogp(mb_actions.size());
    const auto s = grpo::token_loss(logp_new, old, ref, adv, weights, config_.epsilon,
                                    config_.epsilon_high, config_.beta, dlogp);
    const TrajectoryGrad grad = episode_grad(*scored, mb_actions, dlogp);
    PolicyOpt::zero_grad(params);
    policy_->backward(grad, 1.0);
    PolicyOpt::clip_grad_norm(params, config_.max_grad_norm);
    optimizer_.step(1.0);
    stats.loss += s.loss;
    stats.clip_fraction += s.clip_fraction;
    stats.approx_kl += s.approx_kl;
    stats.mean_kl += s.mean_kl;
    ++stats.updates;
  }

  P* policy_;
  Ref reference_;
  Reward reward_;
  GrpoConfig config_;
  Rng rng_;
  const LogitMask* user_mask_;
  LogitMask default_mask_;
  ToolFunction<Query> tool_;
  PolicyOpt optimizer_;
  TrajectoryBatch batch_;
  std::vector<double> rewards_;
};

}  // namespace gfnlm
