#pragma once
// General sub-trajectory balance SubTB(lambda) (Madan et al. 2023; SPEC section 2), over the
// chain s_0 -> ... -> s_e -> (s_e STOP) of every row, the terminal included:
//   L_row = sum_{0<=i<j<=e+1} lambda^(j-i-1) (log F_i + sum_{t=i}^{j-1} log q_t - log F_j)^2
//           / sum_{0<=i<j<=e+1} lambda^(j-i-1),          L = mean over rows,
// where log F_{e+1} = log R(s_e STOP), log q_t = log q(z_t+1|s_t) for t < e and log q(STOP|s_e)
// for t = e (0 for a max-length row), and log F(s_t), t <= e, comes from the stop-flow identity
// or a learned flow head (batch.log_flow) as set by config.flow (flow_potentials.hpp).
// Unlike ModifiedSubTB, each row is normalised on its own (the per-trajectory weighting of
// Madan et al.) and the STOP transition with the terminal state is part of the chain; with the
// stop-flow identity, the terms that end at the terminal repeat the residual of the ones ending
// at s_e. Only the final reward enters in learned-flow mode.
#include <gfnlm/gfn/objectives/flow_potentials.hpp>

#include <vector>

namespace gfnlm {

struct SubTBConfig {
  double lambda = 1.0;
  FlowSource flow = FlowSource::stop_identity;
  double log_reward_floor = kDefaultLogRewardFloor;
};

class SubTB {
 public:
  using Config = SubTBConfig;

  SubTB() = default;
  explicit SubTB(Config config) : config_(config) {
    GFNLM_CHECK(config.lambda > 0, "SubTB: lambda = {} must be positive", config.lambda);
  }

  template <class S>
  double operator()(const BasicTrajectoryBatch<S>& batch, BasicTrajectoryGrad<S>& grad) const {
    detail::RowReader<S> rows(batch, config_.log_reward_floor, "SubTB");
    if (config_.flow == FlowSource::learned) rows.require_flow();
    grad.resize_like(batch);
    const int n = batch.rows();
    if (n == 0) return 0.0;
    std::vector<double> w = detail::powers(config_.lambda, batch.max_len() + 2);
    w.insert(w.begin(), 0.0);
    double total = 0;
    std::vector<double> c, dc;
    std::vector<char> valid;
    for (int b = 0; b < n; ++b) {
      detail::flow_potentials(rows, b, config_.flow, /*terminal=*/true, c, valid);
      double sum = 0, weight = 0;
      detail::pairwise_balance(c, valid, w, 0, sum, weight, dc);
      // weight > 0: s_e and the terminal are always valid end points.
      total += sum / weight;
      detail::backprop_potentials(rows, b, config_.flow, dc, 1.0 / (weight * n), grad);
    }
    return total / n;
  }

  ParameterList<float> parameters() { return {}; }
  const Config& config() const { return config_; }

 private:
  Config config_;
};

}  // namespace gfnlm
