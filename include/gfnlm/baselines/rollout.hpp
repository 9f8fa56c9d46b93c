#pragma once
// Plain ancestral sampling from any gfnlm::Policy: the rollouts of PPO, and the samples every
// model is evaluated on (a base model, a PPO or SFT fine-tune, a GFlowNet policy alike). A thin
// wrapper over the one rollout engine (gfn/rollout.hpp), with its conventions: a row stops when it
// draws the policy's stop token, and a row that reaches max_len stops there without a draw
// (stopped = false; SPEC section 2).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/rollout.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/gfn/trajectory.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace gfnlm {

struct RolloutConfig {
  int max_len = 16;                 // actions before STOP is forced
  double temperature = 1.0;         // logits are divided by this when drawing
  const LogitMask* mask = nullptr;  // optional vocabulary / min-length mask (null: none)
};

// One trajectory per entry of row_queries, drawn by gfn/rollout.hpp's engine (with `tool`, when
// set, run after each action). Fills actions, length, stopped, context (the tool's output) and
// log_pf of the drawn actions at temperature 1 (after the mask); log_stop is NOT filled (score
// the batch for it); query[b] = b (the row's index into row_queries); log_r is left at 0 for the
// caller.
template <Policy P>
TrajectoryBatch sample_rollouts(P& policy, std::span<const typename P::Query> row_queries,
                                const RolloutConfig& config, Rng& rng,
                                const ToolFunction<typename P::Query>& tool = {}) {
  GFNLM_CHECK(config.max_len >= 0, "sample_rollouts: max_len {} is negative", config.max_len);
  GFNLM_CHECK(config.temperature > 0, "sample_rollouts: temperature {} must be positive",
              config.temperature);
  const std::size_t rows = row_queries.size();
  std::optional<LogitMask> own_mask;
  if (!config.mask) own_mask.emplace(policy.vocab_size(), policy.stop_token(), 0);
  const LogitMask* mask = config.mask ? config.mask : &*own_mask;
  std::vector<Trajectory> trajectories(rows);
  std::vector<Trajectory*> out(rows);
  for (std::size_t b = 0; b < rows; ++b) out[b] = &trajectories[b];
  const std::vector<double> temperatures(rows, config.temperature);
  rollout(policy, row_queries, std::span<const double>(temperatures),
          RolloutSpec<typename P::Query>{mask, config.max_len, &tool}, rng,
          std::span<Trajectory* const>(out));
  return to_batch(std::span<const Trajectory>(trajectories), config.max_len);
}

// The actions of row b (without STOP).
inline std::span<const int32_t> row_actions(const TrajectoryBatch& batch, int b) {
  return {&batch.actions(b, 0), std::size_t(batch.length.at(b))};
}

// The listed rows of a batch as a batch of their own (minibatches of PPO).
inline TrajectoryBatch slice_rows(const TrajectoryBatch& batch, std::span<const int> rows) {
  TrajectoryBatch out;
  out.resize(static_cast<int>(rows.size()), batch.max_len());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const int b = rows[i];
    GFNLM_CHECK(b >= 0 && b < batch.rows(), "slice_rows: row {} outside [0, {})", b, batch.rows());
    for (int t = 0; t < batch.max_len(); ++t) {
      out.actions(i, t) = batch.actions(b, t);
      out.log_pf(i, t) = batch.log_pf(b, t);
    }
    for (int t = 0; t <= batch.max_len(); ++t) {
      out.log_stop(i, t) = batch.log_stop(b, t);
      out.log_r(i, t) = batch.log_r(b, t);
    }
    out.length[i] = batch.length[b];
    out.stopped[i] = batch.stopped[b];
    out.query[i] = batch.query[b];
    if (std::size_t(b) < batch.context.size()) out.context[i] = batch.context[b];
  }
  return out;
}

}  // namespace gfnlm
