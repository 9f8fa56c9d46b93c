#pragma once
// A TrajectoryBatch seen as RL episodes: each row is the actions z_1 .. z_n, then STOP when the
// row stopped (a row cut at max_len has no STOP action). Baselines (PPO, SFT) read log pi of
// exactly these actions, the final STOP included, from the batch after Policy::score, and turn
// d loss / d log pi into the TrajectoryGrad that Policy::backward takes.
#include <gfnlm/core/error.hpp>
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

namespace detail {
// Where action a's log pi lives in a scored batch: false = log_pf(row, t), true = log_stop(row, t).
inline bool episode_reads_stop(const TrajectoryBatch& scored, const EpisodeAction& a,
                               const char* who) {
  GFNLM_CHECK(a.row >= 0 && a.row < scored.rows(), "{}: action of row {} outside a batch of {}",
              who, a.row, scored.rows());
  const int n = scored.length.at(a.row);
  GFNLM_CHECK(a.t >= 0 && a.t <= n && n <= scored.max_len(),
              "{}: action at state {} of row {} of length {} (L = {})", who, a.t, a.row, n,
              scored.max_len());
  if (a.t < n) return false;
  GFNLM_CHECK(scored.stopped.at(a.row),
              "{}: action at state {} = the length of row {}, which did not stop", who, a.t, a.row);
  return true;
}
}  // namespace detail

// log pi(a) for every action, read from a batch the policy has scored (Policy::score fills log_pf
// and log_stop with the masks applied): the STOP closing a stopped row, at t = length, reads
// log_stop(row, length); every other action reads log_pf(row, t).
inline std::vector<float> episode_log_probs(const TrajectoryBatch& scored,
                                            std::span<const EpisodeAction> actions) {
  std::vector<float> out(actions.size());
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const auto& a = actions[i];
    out[i] = detail::episode_reads_stop(scored, a, "episode_log_probs")
                 ? scored.log_stop(a.row, a.t)
                 : scored.log_pf(a.row, a.t);
  }
  return out;
}

// d loss / d log q of the scored batch given d loss / d log pi(a) for every action (dlogp, one
// entry per action), in the shape Policy::backward takes: each dlogp lands where
// episode_log_probs read that action's log pi; every other entry is zero.
inline TrajectoryGrad episode_grad(const TrajectoryBatch& scored,
                                   std::span<const EpisodeAction> actions,
                                   std::span<const float> dlogp) {
  GFNLM_CHECK(dlogp.size() == actions.size(), "episode_grad: {} gradients for {} actions",
              dlogp.size(), actions.size());
  TrajectoryGrad grad;
  grad.resize_like(scored);
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const auto& a = actions[i];
    if (detail::episode_reads_stop(scored, a, "episode_grad"))
      grad.log_stop(a.row, a.t) += dlogp[i];
    else
      grad.log_pf(a.row, a.t) += dlogp[i];
  }
  return grad;
}

}  // namespace gfnlm
