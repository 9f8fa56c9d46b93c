#pragma once
// The behaviour policy mixture (SPEC section 4): for each query at each training step, one draw
// picks how its trajectories are obtained. The loss always uses the T = 1 log-probs of q; only
// the data changes.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>

#include <cmath>

namespace gfnlm {

struct ExplorationConfig {
  double p_on_policy = 0.25;  // sample from q at T = 1
  double p_tempered = 0.5;    // sample from q with logits / T, T ~ U[t_low, t_high]
  double p_replay = 0.25;     // re-score trajectories drawn from the replay buffer
  double t_low = 0.5;
  double t_high = 2.0;
  // Of each fresh (on-policy or tempered) query's rows, this many are drawn from its replay
  // buffer instead, when the buffer holds any. A query whose fresh rows have all collapsed onto
  // one sequence gives a batch-estimated log Z (VarGrad) no spread, hence no gradient, however
  // low that sequence's reward; the replayed rows put the best ones found beside it. 0 (the
  // default): a query's rows all come from its one behaviour.
  int replay_rows_per_query = 0;

  void validate() const {
    GFNLM_CHECK(p_on_policy >= 0 && p_tempered >= 0 && p_replay >= 0,
                "exploration probabilities must be >= 0 (on-policy {}, tempered {}, replay {})",
                p_on_policy, p_tempered, p_replay);
    GFNLM_CHECK(p_on_policy + p_tempered + p_replay > 0, "exploration probabilities are all zero");
    GFNLM_CHECK(replay_rows_per_query >= 0, "exploration replay_rows_per_query = {} < 0",
                replay_rows_per_query);
    GFNLM_CHECK(t_low > 0 && t_high >= t_low,
                "exploration temperature range [{}, {}] must satisfy 0 < low <= high", t_low,
                t_high);
  }
};

enum class Behaviour { on_policy, tempered, replay };

struct BehaviourChoice {
  Behaviour mode = Behaviour::on_policy;
  double temperature = 1.0;  // logits are divided by this (1 for on-policy and replay)
};

// One draw per query per step. Replay falls back to tempered when the buffer holds nothing for
// the query (SPEC section 4). Always consumes exactly two uniforms, so the random stream does
// not depend on which branch was taken (simpler to reason about when resuming).
inline BehaviourChoice choose_behaviour(const ExplorationConfig& config, Rng& rng,
                                        bool buffer_has_items) {
  const double total = config.p_on_policy + config.p_tempered + config.p_replay;
  const double u = rng.uniform() * total;
  const double t = rng.uniform(config.t_low, config.t_high);
  if (u < config.p_on_policy) return {Behaviour::on_policy, 1.0};
  if (u < config.p_on_policy + config.p_tempered || !buffer_has_items)
    return {Behaviour::tempered, t};
  return {Behaviour::replay, 1.0};
}

}  // namespace gfnlm
