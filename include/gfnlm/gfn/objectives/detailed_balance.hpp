#pragma once
// Detailed balance: the length-1 terms of SubTB (SPEC section 2).
//
// DetailedBalance: over the chain s_0 -> ... -> s_e -> (s_e STOP) of each row (flow from the
//   stop-flow identity or a learned head, flow_potentials.hpp),
//     L = sum_rows sum_{t=0}^{e} (log F(s_t) + log q_t - log F(s_t+1))^2 / (number of terms),
//   one mean over every transition of the batch, log F(s_e STOP) = log R(s_e STOP). With the
//   stop-flow identity the STOP term is identically zero (it still counts in the mean).
//
// ModifiedDB: the reference code's modified_db (stop-flow identity):
//     delta_t = log R_t + log q(z_t+1|s_t) + log q(STOP|s_t+1) - log R_t+1 - log q(STOP|s_t)
//     L = mean over rows of sum_{t<e} delta_t^2 / (e + [row stopped]).
//   As in the reference trainer (which masks only what follows the first STOP), a stopped row's
//   STOP transition is one of its terms, with delta exactly 0, so it counts in the row's mean;
//   a max-length row has no STOP transition. A stopped row with no action contributes 0 to the
//   outer mean; rows with no term at all (length 0, not stopped) are left out of it.
#include <gfnlm/gfn/objectives/flow_potentials.hpp>

#include <vector>

namespace gfnlm {

struct DetailedBalanceConfig {
  FlowSource flow = FlowSource::stop_identity;
  double log_reward_floor = kDefaultLogRewardFloor;
};

class DetailedBalance {
 public:
  using Config = DetailedBalanceConfig;

  DetailedBalance() = default;
  explicit DetailedBalance(Config config) : config_(config) {}

  template <class S>
  double operator()(const BasicTrajectoryBatch<S>& batch, BasicTrajectoryGrad<S>& grad) const {
    detail::RowReader<S> rows(batch, config_.log_reward_floor, "DetailedBalance");
    if (config_.flow == FlowSource::learned) rows.require_flow();
    grad.resize_like(batch);
    const std::vector<double> w{0.0, 1.0};
    double sum = 0, count = 0;
    std::vector<double> c;
    std::vector<char> valid;
    std::vector<std::vector<double>> dcs(std::size_t(batch.rows()));
    for (int b = 0; b < batch.rows(); ++b) {
      detail::flow_potentials(rows, b, config_.flow, /*terminal=*/true, c, valid);
      detail::pairwise_balance(c, valid, w, 1, sum, count, dcs[b]);
    }
    if (count <= 0) return 0.0;
    for (int b = 0; b < batch.rows(); ++b)
      detail::backprop_potentials(rows, b, config_.flow, dcs[b], 1.0 / count, grad);
    return sum / count;
  }

  ParameterList<float> parameters() { return {}; }
  const Config& config() const { return config_; }

 private:
  Config config_;
};

struct ModifiedDBConfig {
  double log_reward_floor = kDefaultLogRewardFloor;
};

class ModifiedDB {
 public:
  using Config = ModifiedDBConfig;

  ModifiedDB() = default;
  explicit ModifiedDB(Config config) : config_(config) {}

  template <class S>
  double operator()(const BasicTrajectoryBatch<S>& batch, BasicTrajectoryGrad<S>& grad) const {
    detail::RowReader<S> rows(batch, config_.log_reward_floor, "ModifiedDB");
    grad.resize_like(batch);
    const std::vector<double> w{0.0, 1.0};
    std::vector<double> c, sums(std::size_t(batch.rows()), 0.0), counts(sums.size(), 0.0);
    std::vector<char> valid;
    std::vector<std::vector<double>> dcs(sums.size());
    int used = 0;
    for (int b = 0; b < batch.rows(); ++b) {
      detail::flow_potentials(rows, b, FlowSource::stop_identity, /*terminal=*/false, c, valid);
      detail::pairwise_balance(c, valid, w, 1, sums[b], counts[b], dcs[b]);
      if (rows.stopped(b)) counts[b] += 1;  // the STOP transition, delta = 0
      if (counts[b] > 0) ++used;
    }
    if (used == 0) return 0.0;
    double total = 0;
    for (int b = 0; b < batch.rows(); ++b) {
      if (counts[b] <= 0) continue;
      total += sums[b] / counts[b];
      detail::backprop_potentials(rows, b, FlowSource::stop_identity, dcs[b],
                                  1.0 / (counts[b] * used), grad);
    }
    return total / used;
  }

  ParameterList<float> parameters() { return {}; }
  const Config& config() const { return config_; }

 private:
  Config config_;
};

}  // namespace gfnlm
