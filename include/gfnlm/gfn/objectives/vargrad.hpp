#pragma once
// VarGrad trajectory balance: TB with log Z replaced by each query's batch estimate
// mean_b(log R - log q) (Richter et al. 2020; the log-partition estimate of SPEC section 2):
//   L = mean_b (d_b - mean_{b' same query} d_b')^2,  d_b = log q(Z_b STOP) - log R(Z_b).
// When: many queries, each visited a handful of times in a run (the arithmetic task trains on
// ~1000), so a learned per-query log Z (TrajectoryBalance) never catches up with the reward's
// scale; the batch estimate needs no history. Rows of one query must come in one batch (the
// Sampler's per-query gradient accumulation does that). A group whose rows are identical (a
// replay of a single buffer item) has zero loss: it carries no relative information. A
// max-length row reads log q(STOP|s_e) = 0, as in TrajectoryBalance.
#include <gfnlm/gfn/objectives/objective.hpp>

#include <map>
#include <utility>
#include <vector>

namespace gfnlm {

struct VarGradConfig {
  double log_reward_floor = kDefaultLogRewardFloor;
};

class VarGradTB {
 public:
  using Config = VarGradConfig;

  VarGradTB() = default;
  explicit VarGradTB(Config config) : config_(config) {}

  template <class S>
  double operator()(const BasicTrajectoryBatch<S>& batch, BasicTrajectoryGrad<S>& grad) {
    detail::RowReader<S> rows(batch, config_.log_reward_floor, "VarGradTB");
    grad.resize_like(batch);
    const int n = batch.rows();
    if (n == 0) return 0.0;
    std::vector<double> d(n);
    std::map<int, std::pair<double, int>> groups;  // query -> (sum d, count)
    for (int b = 0; b < n; ++b) {
      const int e = rows.length(b);
      d[b] = rows.log_stop(b, e) - rows.log_r(b, e);
      for (int t = 0; t < e; ++t) d[b] += rows.log_pf(b, t);
      auto& g = groups[batch.query[b]];
      g.first += d[b];
      g.second += 1;
    }
    double loss = 0;
    for (int b = 0; b < n; ++b) {
      const auto& g = groups[batch.query[b]];
      const double r = d[b] - g.first / g.second;
      loss += r * r / n;
      // The mean's own dependence on d_b sums to zero over the group.
      const double dd = 2.0 * r / n;
      const int e = rows.length(b);
      for (int t = 0; t < e; ++t) grad.log_pf(b, t) = static_cast<S>(dd);
      if (rows.stop_is_variable(b, e)) grad.log_stop(b, e) = static_cast<S>(dd);
    }
    return loss;
  }

  ParameterList<float> parameters() { return {}; }
  // Read by the Sampler: its log Z estimate and warnings use this floor, as the loss does.
  const Config& config() const { return config_; }

 private:
  Config config_{};
};

}  // namespace gfnlm
