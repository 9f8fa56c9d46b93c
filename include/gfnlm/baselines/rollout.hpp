#pragma once
// Plain ancestral sampling from any gfnlm::Policy: the rollouts of PPO, and the samples every
// model is evaluated on (a base model, a PPO or SFT fine-tune, a GFlowNet policy alike). The
// GFlowNet Sampler has its own exploration machinery; this is the bare "sample from q at
// temperature T" that baselines need, with the same conventions: a row stops when it draws the
// policy's stop token, and a row that reaches max_len stops there without a draw
// (stopped = false; SPEC section 2).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

struct RolloutConfig {
  int max_len = 16;                 // actions before STOP is forced
  double temperature = 1.0;         // logits are divided by this when drawing
  const LogitMask* mask = nullptr;  // optional vocabulary / min-length mask
};

// One trajectory per entry of row_queries. Fills actions, length, stopped, and log_pf / log_stop
// of the drawn path at temperature 1 (after the mask); query[b] = b (the row's index into
// row_queries); log_r is left at 0 for the caller.
template <Policy P>
TrajectoryBatch sample_rollouts(P& policy, std::span<const typename P::Query> row_queries,
                                const RolloutConfig& config, Rng& rng) {
  GFNLM_CHECK(config.max_len >= 0, "sample_rollouts: max_len {} is negative", config.max_len);
  GFNLM_CHECK(config.temperature > 0, "sample_rollouts: temperature {} must be positive",
              config.temperature);
  const int rows = static_cast<int>(row_queries.size());
  const int vocab = policy.vocab_size();
  const int32_t stop = policy.stop_token();
  TrajectoryBatch batch;
  batch.resize(rows, config.max_len);
  for (int b = 0; b < rows; ++b) batch.query[b] = b;
  if (rows == 0) return batch;

  policy.start_rollout(row_queries);
  std::vector<float> logits(std::size_t(rows) * vocab);
  std::vector<double> log_probs(vocab), weights(vocab);
  std::vector<int32_t> tokens(rows);
  std::vector<bool> active(rows, true);
  int live = rows;
  for (int t = 0; t < config.max_len && live > 0; ++t) {
    policy.next_logits(logits);
    for (int b = 0; b < rows; ++b) {
      tokens[b] = -1;
      if (!active[b]) continue;
      std::span<float> row(logits.data() + std::size_t(b) * vocab, vocab);
      if (config.mask) config.mask->apply(row, t);
      masked_log_softmax(row, log_probs);
      // Draw from softmax(logits / T): weights exp((log p - max) / T) are the same distribution.
      double hi = -INFINITY;
      for (double lp : log_probs) hi = std::max(hi, lp);
      for (int v = 0; v < vocab; ++v)
        weights[v] = std::exp((log_probs[v] - hi) / config.temperature);
      const int32_t a = rng.categorical(std::span<const double>(weights));
      batch.log_stop(b, t) = static_cast<float>(log_probs[stop]);
      if (a == stop) {
        active[b] = false;
        --live;
        batch.length[b] = t;
        continue;
      }
      batch.actions(b, t) = a;
      batch.log_pf(b, t) = static_cast<float>(log_probs[a]);
      batch.length[b] = t + 1;
      tokens[b] = a;
    }
    policy.advance(tokens);
  }
  for (int b = 0; b < rows; ++b)
    if (active[b]) batch.stopped[b] = false;  // reached max_len: STOP forced, q(STOP) = 1
  return batch;
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
