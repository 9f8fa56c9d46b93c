#pragma once
// A TrajectoryBatch seen as RL episodes: each row is the actions z_1 .. z_n, then STOP when the
// row stopped (a row cut at max_len has no STOP action). Baselines (PPO, SFT) score and
// differentiate log pi of exactly these actions, the final STOP included, from the policy's
// teacher-forced logits.
#include <gfnlm/baselines/ppo_math.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/trajectory.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

// One action of an episode: taken at state s_t of row `row`.
struct EpisodeAction {
  int row = 0;
  int t = 0;
  int32_t token = 0;
  int32_t previous = -1;  // the action before (the last prompt/context position: -1)
};

// Every action of every row, row-major; STOP closes a stopped row.
inline std::vector<EpisodeAction> episode_actions(const TrajectoryBatch& batch, int32_t stop) {
  std::vector<EpisodeAction> out;
  for (int b = 0; b < batch.rows(); ++b) {
    const int n = batch.length.at(b);
    GFNLM_CHECK(n >= 0 && n <= batch.max_len(), "episode_actions: row {} has length {} (L = {})", b,
                n, batch.max_len());
    int32_t prev = -1;
    for (int t = 0; t < n; ++t) {
      out.push_back({b, t, batch.actions(b, t), prev});
      prev = batch.actions(b, t);
    }
    if (batch.stopped.at(b)) out.push_back({b, n, stop, prev});
  }
  return out;
}

// log pi(a) for every action from state logits [B, L+1, V] (the mask, if any, applied first).
// With dlogp given (one entry per action), also accumulates sum_a dlogp[a] d log pi(a) / d logits
// into dlogits (same shape as logits, zeroed by the caller).
inline std::vector<float> action_log_probs(const Tensor<float, 3>& logits,
                                           std::span<const EpisodeAction> actions,
                                           const LogitMask* mask = nullptr,
                                           std::span<const float> dlogp = {},
                                           Tensor<float, 3>* dlogits = nullptr) {
  const std::size_t vocab = logits.shape()[2];
  GFNLM_CHECK(dlogp.empty() ||
                  (dlogp.size() == actions.size() && dlogits && dlogits->shape() == logits.shape()),
              "action_log_probs: {} gradients for {} actions, or dlogits missing / misshapen",
              dlogp.size(), actions.size());
  std::vector<float> row(vocab), out(actions.size());
  std::vector<float> scratch(vocab);
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const auto& a = actions[i];
    GFNLM_CHECK(a.row >= 0 && std::size_t(a.row) < logits.shape()[0] && a.t >= 0 &&
                    std::size_t(a.t) < logits.shape()[1],
                "action_log_probs: action at row {} state {} outside logits [{}, {}, {}]", a.row,
                a.t, logits.shape()[0], logits.shape()[1], vocab);
    for (std::size_t v = 0; v < vocab; ++v) row[v] = logits(a.row, a.t, v);
    if (mask) mask->apply(row, a.t);
    const double g = dlogp.empty() ? 0.0 : double(dlogp[i]);
    if (g != 0) {
      float* d = &(*dlogits)(a.row, a.t, 0);
      out[i] = static_cast<float>(ppo::log_prob_and_grad(row, a.token, g, {d, vocab}));
    } else {
      out[i] = static_cast<float>(ppo::log_prob_and_grad(row, a.token, 0.0, scratch));
    }
  }
  return out;
}

}  // namespace gfnlm
