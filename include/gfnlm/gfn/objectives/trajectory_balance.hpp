#pragma once
// Trajectory balance with a learned log Z per query (SPEC section 2):
//   L = mean_rows (log Z_q + sum_{t<e} log q(z_t+1|s_t) + log q(STOP|s_e) - log R(s_e STOP))^2
// q = batch.query[b] indexes the log Z table (num_queries entries; one scalar log Z when 1).
// A max-length row reads log q(STOP|s_e) = 0. log Z is exposed through parameters() so the
// caller can give it its own optimiser and learning rate (config.log_z_lr, typically much larger
// than the policy's, since log Z must travel the whole scale of log R quickly).
#include <gfnlm/gfn/objectives/objective.hpp>

#include <string>
#include <vector>

namespace gfnlm {

struct TrajectoryBalanceConfig {
  int num_queries = 1;
  double log_z_init = 0.0;
  double log_z_lr = 0.1;  // read by whoever builds log Z's optimiser, not used here
  double log_reward_floor = kDefaultLogRewardFloor;
};

class TrajectoryBalance {
 public:
  using Config = TrajectoryBalanceConfig;

  TrajectoryBalance() : TrajectoryBalance(Config{}) {}
  explicit TrajectoryBalance(Config config)
      : config_(config),
        log_z_(std::size_t(config.num_queries > 0 ? config.num_queries : 0),
               static_cast<float>(config.log_z_init)),
        log_z_grad_(log_z_.size(), 0.0f) {
    GFNLM_CHECK(config.num_queries > 0, "TrajectoryBalance: num_queries = {} must be positive",
                config.num_queries);
  }
  // log Z lives in this object: copies would alias the optimiser's pointers, so forbid them.
  TrajectoryBalance(const TrajectoryBalance&) = delete;
  TrajectoryBalance& operator=(const TrajectoryBalance&) = delete;
  TrajectoryBalance(TrajectoryBalance&&) = default;
  TrajectoryBalance& operator=(TrajectoryBalance&&) = default;

  // Overwrites grad; accumulates d loss / d log Z into the parameter gradient.
  template <class S>
  double operator()(const BasicTrajectoryBatch<S>& batch, BasicTrajectoryGrad<S>& grad) {
    detail::RowReader<S> rows(batch, config_.log_reward_floor, "TrajectoryBalance");
    grad.resize_like(batch);
    const int n = batch.rows();
    if (n == 0) return 0.0;
    double sum = 0;
    for (int b = 0; b < n; ++b) {
      const int q = batch.query[b];
      GFNLM_CHECK(q >= 0 && q < config_.num_queries,
                  "TrajectoryBalance: row {} has query {} outside [0, {})", b, q,
                  config_.num_queries);
      const int e = rows.length(b);
      double r = static_cast<double>(log_z_[q]) + rows.log_stop(b, e) - rows.log_r(b, e);
      for (int t = 0; t < e; ++t) r += rows.log_pf(b, t);
      sum += r * r;
      const double d = 2.0 * r / n;
      for (int t = 0; t < e; ++t) grad.log_pf(b, t) = static_cast<S>(d);
      if (rows.stop_is_variable(b, e)) grad.log_stop(b, e) = static_cast<S>(d);
      log_z_grad_[q] += static_cast<float>(d);
    }
    return sum / n;
  }

  ParameterList<float> parameters() {
    return {ParameterView<float>{"trajectory_balance.log_z", log_z_.data(), log_z_grad_.data(),
                                 log_z_.size(), /*weight_decay=*/false}};
  }
  float log_z(int query = 0) const { return log_z_.at(std::size_t(query)); }
  void set_log_z(int query, float value) { log_z_.at(std::size_t(query)) = value; }
  const Config& config() const { return config_; }

 private:
  Config config_;
  std::vector<float> log_z_, log_z_grad_;
};

}  // namespace gfnlm
