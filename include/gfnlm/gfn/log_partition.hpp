#pragma once
// Per-query log-partition estimates from on-policy samples (SPEC section 2, VarGrad-style).
// For a sample z of query q, x(z) = log R(z STOP) - log q(z STOP) (log q(z) for a max-length
// row, whose STOP has probability 1). If q matched the target exactly, x would equal log Z_q
// for every sample, so
//   mean  = mean of x         (a lower bound on log Z_q in expectation, by Jensen),
//   std   = spread of x       (sample standard deviation; 0 when q is exact),
//   log_mean_exp = log mean exp(x)   (the importance-sampling estimate, consistent for log Z_q),
// and std is the number to watch: how far q is from the target. Rows whose log R is -inf (zero
// reward) carry no information about log Z beyond "finite x is an underestimate"; they are
// counted in zero_reward and left out of the statistics.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/gfn/trajectory.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace gfnlm {

struct LogPartitionEstimate {
  int query = 0;
  int count = 0;        // rows with a finite log R (the statistics use these)
  int zero_reward = 0;  // rows with log R = -inf
  double mean = std::numeric_limits<double>::quiet_NaN();  // NaN when count == 0
  double std = std::numeric_limits<double>::quiet_NaN();   // NaN when count == 0, 0 if 1
  double log_mean_exp = std::numeric_limits<double>::quiet_NaN();
};

// One entry per query 0 .. num_queries-1 (num_queries = 0: 1 + the largest query in the batch).
template <class S>
std::vector<LogPartitionEstimate> estimate_log_partition(const BasicTrajectoryBatch<S>& batch,
                                                         int num_queries = 0) {
  const int rows = batch.rows();
  if (num_queries <= 0)
    for (int b = 0; b < rows; ++b) num_queries = std::max(num_queries, batch.query.at(b) + 1);
  std::vector<std::vector<double>> xs(std::size_t(std::max(num_queries, 0)));
  std::vector<LogPartitionEstimate> out(xs.size());
  for (int q = 0; q < num_queries; ++q) out[q].query = q;
  for (int b = 0; b < rows; ++b) {
    const int q = batch.query.at(b), e = batch.length.at(b);
    GFNLM_CHECK(q >= 0 && q < num_queries,
                "estimate_log_partition: row {} has query {} outside "
                "[0, {})",
                b, q, num_queries);
    const double log_r = batch.log_r(b, e);
    GFNLM_CHECK(!std::isnan(log_r), "estimate_log_partition: log_r[{}][{}] is NaN", b, e);
    if (log_r == -std::numeric_limits<double>::infinity()) {
      ++out[q].zero_reward;
      continue;
    }
    double log_q = batch.stopped.at(b) ? double(batch.log_stop(b, e)) : 0.0;
    for (int t = 0; t < e; ++t) log_q += batch.log_pf(b, t);
    xs[q].push_back(log_r - log_q);
  }
  for (int q = 0; q < num_queries; ++q) {
    const auto& x = xs[q];
    auto& est = out[q];
    est.count = static_cast<int>(x.size());
    if (x.empty()) continue;
    double mean = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    double sq = 0;
    for (double v : x) sq += (v - mean) * (v - mean);
    est.mean = mean;
    est.std = x.size() > 1 ? std::sqrt(sq / double(x.size() - 1)) : 0.0;
    est.log_mean_exp = logsumexp<double>(x) - std::log(double(x.size()));
  }
  return out;
}

}  // namespace gfnlm
