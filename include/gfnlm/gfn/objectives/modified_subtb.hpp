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
//
// learn_root_flow (default false): with a min-length mask (SPEC section 4) STOP is masked at the
// root, so s_0 is no end point and NO balance term contains the first transition: the loss
// gives log q(z_1 | s_0) a gradient of exactly zero (C_0 is absent and the d/dC of all other end
// points sums to zero). The first-token distribution then only moves through parameters it
// shares with later states. With learn_root_flow, a root whose STOP is masked takes a learned
// log F(s_0) = log Z_q per query (q = batch.query[b] in [0, num_queries)), as in TB, and the
// sub-trajectories s_0 -> s_j enter the sum like every other; log Z is exposed through
// parameters() (give it its own learning rate, log_z_lr, as for TB). A root where STOP is allowed
// keeps the stop-flow identity and its log Z gets no gradient. docs/uniform_integers.md measures
// the difference on the random-integer task.
#include <gfnlm/gfn/objectives/objective.hpp>

#include <vector>

namespace gfnlm {

struct ModifiedSubTBConfig {
  double lambda = 1.0;
  bool include_stop_transition = false;
  double log_reward_floor = kDefaultLogRewardFloor;
  bool learn_root_flow = false;  // learned log F(s_0) where STOP is masked at the root (above)
  int num_queries = 1;           // log Z table size when learn_root_flow
  double log_z_init = 0.0;       // initial log Z: the largest log R is a good start
  double log_z_lr = 0.1;         // read by whoever builds log Z's optimiser, not used here
};

class ModifiedSubTB {
 public:
  using Config = ModifiedSubTBConfig;

  ModifiedSubTB() = default;
  explicit ModifiedSubTB(Config config) : config_(config) {
    GFNLM_CHECK(config.lambda > 0, "ModifiedSubTB: lambda = {} must be positive", config.lambda);
    if (config.learn_root_flow) {
      GFNLM_CHECK(config.num_queries > 0, "ModifiedSubTB: num_queries = {} must be positive",
                  config.num_queries);
      log_z_.assign(std::size_t(config.num_queries), static_cast<float>(config.log_z_init));
      log_z_grad_.assign(log_z_.size(), 0.0f);
    }
  }

  template <class S>
  double operator()(const BasicTrajectoryBatch<S>& batch, BasicTrajectoryGrad<S>& grad) {
    detail::RowReader<S> rows(batch, config_.log_reward_floor, "ModifiedSubTB");
    grad.resize_like(batch);
    // w[k] = lambda^(k-1): the weight of a sub-trajectory of k transitions.
    std::vector<double> w = detail::powers(config_.lambda, batch.max_len() + 3);
    w.insert(w.begin(), 0.0);
    double sum = 0, weight = 0;
    std::vector<double> c, dc;
    std::vector<char> valid;
    std::vector<double> dlog_z(log_z_.size(), 0.0);
    for (int b = 0; b < batch.rows(); ++b) {
      const int e = rows.length(b);
      int q = -1;  // the row's log Z index when its root flow is learned
      const int extra = config_.include_stop_transition && rows.stopped(b) ? 1 : 0;
      c.assign(std::size_t(e) + 1 + extra, 0.0);
      valid.assign(c.size(), 1);
      double prefix = 0;  // P_t
      for (int t = 0; t <= e; ++t) {
        const double ls = rows.log_stop(b, t);
        valid[t] = std::isfinite(ls);
        c[t] = valid[t] ? rows.log_r(b, t) - ls - prefix : 0.0;
        if (t < e) prefix += rows.log_pf(b, t);
      }
      if (config_.learn_root_flow && !valid[0]) {
        q = batch.query[b];
        GFNLM_CHECK(q >= 0 && q < config_.num_queries,
                    "ModifiedSubTB: row {} has query {} outside [0, {})", b, q,
                    config_.num_queries);
        valid[0] = 1;
        c[0] = static_cast<double>(log_z_[std::size_t(q)]);  // P_0 = 0
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
      if (q >= 0) {
        grad.log_stop(b, 0) = 0;  // masked: C_0 is log Z, not the stop-flow identity
        dlog_z[std::size_t(q)] += dc[0];
      }
    }
    if (weight <= 0) return 0.0;  // no sub-trajectory at all (every row empty)
    const S scale = static_cast<S>(1.0 / weight);
    grad.log_pf *= scale;
    grad.log_stop *= scale;
    for (std::size_t k = 0; k < dlog_z.size(); ++k)
      log_z_grad_[k] += static_cast<float>(dlog_z[k] / weight);
    return sum / weight;
  }

  // Empty unless learn_root_flow. Copies of an objective with a learned log Z own their own
  // table; an optimiser points into the object it was built from.
  ParameterList<float> parameters() {
    if (log_z_.empty()) return {};
    return {ParameterView<float>{"modified_subtb.log_z", log_z_.data(), log_z_grad_.data(),
                                 log_z_.size(), /*weight_decay=*/false}};
  }
  float log_z(int query = 0) const { return log_z_.at(std::size_t(query)); }
  const Config& config() const { return config_; }

 private:
  Config config_;
  // Learned root flows (learn_root_flow); the call operator accumulates their gradient, as
  // TrajectoryBalance does for its log Z.
  std::vector<float> log_z_, log_z_grad_;
};

}  // namespace gfnlm
