#pragma once
// Supervised fine-tuning (maximum likelihood) of a policy on target answers: the supervised
// reference of the random-integer task and of the arithmetic task (SPEC section 6). It goes
// through the Policy concept (teacher forcing + backward), not the engine's pretraining loop, so
// it trains exactly the parameters the policy exposes (LoRA adapters for LmPolicy) and the loss
// covers the answer tokens and the closing STOP, never the prompt: Policy::score gives log pi of
// every answer action (baselines/episode.hpp), and d mean NLL / d log pi goes back through
// Policy::backward. A tool (gfn/tool.hpp), when set, is replayed over each answer so that the
// policy is trained in the states a rollout with that tool would have seen.
#include <gfnlm/baselines/episode.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/optimizer.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

struct SftConfig {
  double lr = 1e-3;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
};

// A batch of finished answers (each followed by STOP) to teacher-force.
inline TrajectoryBatch answers_batch(std::span<const std::vector<int32_t>> answers,
                                     int32_t stop_token) {
  int max_len = 0;
  for (const auto& a : answers) max_len = std::max(max_len, static_cast<int>(a.size()));
  TrajectoryBatch batch;
  batch.resize(static_cast<int>(answers.size()), max_len);
  for (std::size_t b = 0; b < answers.size(); ++b) {
    for (std::size_t t = 0; t < answers[b].size(); ++t) {
      GFNLM_CHECK(answers[b][t] != stop_token && answers[b][t] >= 0,
                  "answers_batch: answer {} holds token {} at {} (the stop token or negative)", b,
                  answers[b][t], t);
      batch.actions(b, t) = answers[b][t];
    }
    batch.length[b] = static_cast<int>(answers[b].size());
    batch.query[b] = static_cast<int>(b);
  }
  return batch;
}

template <Policy P>
class SftTrainer {
 public:
  using Query = typename P::Query;

  // mask: applied to every score (null: none, i.e. a default all-allowed LogitMask); tool: replayed
  // over each answer to fill the batch's context (empty: none).
  SftTrainer(P& policy, SftConfig config, const LogitMask* mask = nullptr,
             ToolFunction<Query> tool = {})
      : policy_(&policy),
        user_mask_(mask),
        default_mask_(policy.vocab_size(), policy.stop_token(), 0),
        tool_(std::move(tool)),
        config_(config),
        optimizer_(policy.parameters(),
                   AdamWConfig{.lr = config.lr, .weight_decay = config.weight_decay}) {}

  // Mean negative log-likelihood per token (answer tokens and STOP) of the targets under the
  // policy, before the step; then one AdamW step on it. lr_scale multiplies the learning rate.
  double train_step(std::span<const Query> row_queries,
                    std::span<const std::vector<int32_t>> answers, double lr_scale = 1.0) {
    GFNLM_CHECK(row_queries.size() == answers.size() && !answers.empty(),
                "SftTrainer::train_step: {} queries for {} answers", row_queries.size(),
                answers.size());
    auto batch = answers_batch(answers, policy_->stop_token());
    if (tool_)
      for (std::size_t b = 0; b < answers.size(); ++b)
        batch.context[b] = replay_tool(tool_, row_queries[b], std::span<const int32_t>(answers[b]));
    const auto actions = episode_actions(batch, policy_->stop_token());
    policy_->score(row_queries, mask(), batch);
    const auto logp = episode_log_probs(batch, actions);
    double nll = 0;
    for (float lp : logp) nll -= lp;
    // d mean(-log pi) / d log pi = -1 / count for every action.
    const std::vector<float> dlogp(actions.size(), -1.0f / static_cast<float>(actions.size()));
    const TrajectoryGrad grad = episode_grad(batch, actions, dlogp);
    auto params = policy_->parameters();
    PolicyOpt::zero_grad(params);
    policy_->backward(grad, 1.0);
    PolicyOpt::clip_grad_norm(params, config_.max_grad_norm);
    optimizer_.step(lr_scale);
    return nll / double(actions.size());
  }

  // The mask of every score (the caller's, or the default all-allowed one).
  const LogitMask& mask() const { return user_mask_ ? *user_mask_ : default_mask_; }

 private:
  using PolicyOpt = PolicyOptimizer<P>;

  P* policy_;
  const LogitMask* user_mask_;
  LogitMask default_mask_;
  ToolFunction<Query> tool_;
  SftConfig config_;
  PolicyOpt optimizer_;
};

}  // namespace gfnlm
