#pragma once
// Modified sub-trajectory balance, the paper's loss (SPEC section 2). Every prefix may stop, so
// the stop-flow identity log F(s) = log R(s STOP) - log q(STOP | s) replaces a flow network and
// log Z. Per transition t (s_t -> s_t+1):
//   delta_t = [log R_t - log q(STOP|s_t)] + log q(z_t+1|s_t) - [log R_t+1 - log q(STOP|s_t+1)]
//   L = sum_rows sum_{0<=i<j<=e} lambda^(j-i-1) (sum_{t=i}^{j-1} delta_t)^2
//       / sum_rows sum_{0<=i<j<=e} lambda^(j-i-1)
// with ONE normaliser over the whole batch. The deltas telescope: with
// C_t = log R_t - log q(STOP|s_t) - sum_{k<t} log q(z_k+1|s_k), the inner sum is C_i - C_j, so
// all O(e^2) terms cost O(e^2) adds and the gradient is analytic.
//
// A max-length row (stopped == false) counts as stopped at s_e with log q(STOP|s_e) = 0.
// States where STOP was masked (log q(STOP) = -inf) are not end points (see objective.hpp).
//
// include_stop_transition (default false, as in the paper): the reference code's other
// convention (its arithmetic / infilling trainer masks only what follows the first STOP) keeps
// the STOP transition s_e -> (s_e STOP) of a stopped row as one more transition, whose delta is
// exactly 0 there: log R_e - log q(STOP|s_e) + log q(STOP|s_e) - log R(s_e STOP). Sub-trajectories
// ending with it are then counted too: the one-step STOP term only adds to the normaliser, and a
// term i -> STOP repeats the residual of i -> s_e with weight lambda^(e-i). A max-length row has
// no STOP transition, in that convention as in this one.
#include <gfnlm/gfn/objectives/objective.hpp>

#include <vector>

namespace gfnlm {

struct ModifiedSubTBConfig {
  double lambda = 1.0;
  bool include_stop_transition = false;
  double log_reward_floor = kDefaultLogRewardFloor;
};

class ModifiedSubTB {
 public:
  using Config = ModifiedSubTBConfig;

  ModifiedSubTB() = default;
  explicit ModifiedSubTB(Config config) : config_(config) {
    GFNLM_CHECK(config.lambda > 0, "ModifiedSubTB: lambda = {} must be positive", config.lambda);
  }

  template <class S>
  double operator()(const BasicTrajectoryBatch<S>& batch, BasicTrajectoryGrad<S>& grad) const {
    detail::RowReader<S> rows(batch, config_.log_reward_floor, "ModifiedSubTB");
    grad.resize_like(batch);
    // w[k] = lambda^(k-1): the weight of a sub-trajectory of k transitions.
    std::vector<double> w = detail::powers(config_.lambda, batch.max_len() + 3);
    w.insert(w.begin(), 0.0);
    double sum = 0, weight = 0;
    std::vector<double> c, dc;
    std::vector<char> valid;
    for (int b = 0; b < batch.rows(); ++b) {
      const int e = rows.length(b);
      const int extra = config_.include_stop_transition && rows.stopped(b) ? 1 : 0;
      c.assign(std::size_t(e + 1 + extra), 0.0);
      valid.assign(c.size(), 1);
      double prefix = 0;  // P_t
      for (int t = 0; t <= e; ++t) {
        const double ls = rows.log_stop(b, t);
        valid[t] = std::isfinite(ls);
        c[t] = valid[t] ? rows.log_r(b, t) - ls - prefix : 0.0;
        if (t < e) prefix += rows.log_pf(b, t);
      }
      if (extra) c[e + 1] = c[e];  // delta of the STOP transition is 0
      detail::pairwise_balance(c, valid, w, 0, sum, weight, dc);
      if (extra) dc[e] += dc[e + 1];
      // C_t depends on -log_stop_t and on -log_pf_k for every k < t.
      double suffix = 0;
      for (int t = e; t >= 0; --t) {
        if (rows.stop_is_variable(b, t)) grad.log_stop(b, t) = static_cast<S>(-dc[t]);
        if (t < e) grad.log_pf(b, t) = static_cast<S>(-suffix);
        suffix += dc[t];
      }
    }
    if (weight <= 0) return 0.0;  // no sub-trajectory at all (every row empty)
    const S scale = static_cast<S>(1.0 / weight);
    grad.log_pf *= scale;
    grad.log_stop *= scale;
    return sum / weight;
  }

  ParameterList<float> parameters() { return {}; }
  const Config& config() const { return config_; }

 private:
  Config config_;
};

}  // namespace gfnlm
