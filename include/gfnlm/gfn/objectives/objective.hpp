#pragma once
// The Objective concept (SPEC section 2) and the row-reading conventions every objective shares.
//
// An objective maps a BasicTrajectoryBatch<S> (S = float or double) to a loss and its analytic
// gradient:
//   double loss = objective(batch, grad);
// grad.log_pf, grad.log_stop (and grad.log_flow when the batch carries log_flow) are resized to
// the batch and OVERWRITTEN with d loss / d entry (zero where an entry does not enter the loss).
// Gradients of the objective's own parameters (a learned log Z) are ACCUMULATED into their
// ParameterView::grad, exactly like Policy::backward accumulates into the policy's parameters,
// so a caller can accumulate over several batches and zero everything once per step with
// zero_grad(). parameters() is empty for an objective without parameters.
//
// Conventions shared by all objectives (read by detail::RowReader below):
// * Row b took e = length[b] actions; states s_0 .. s_e; log_pf[b][t] for t < e, log_stop and
//   log_r for t <= e. Entries past the row are never read.
// * A row with stopped[b] == false hit max length; it counts as stopped at s_e with
//   q(STOP | s_e) = 1: log_stop[b][e] is read as 0 and gets no gradient (SPEC section 2).
// * log R = -inf (zero reward) is allowed. It is CLAMPED to Config::log_reward_floor (default
//   -100) rather than masked: masking every term that touches a zero-reward state would leave
//   q(STOP | s) there without any signal, so the policy would never learn to avoid stopping in
//   a zero-reward state; with the floor it is pushed to q(STOP | s) ~ e^-100 F(s)^-1, which is
//   zero for every practical purpose. The reference code does the same with its finite -99
//   penalty for too-short prefixes (SPEC section 3). Only -inf is clamped: a finite log R
//   under the floor is read as it is (the Sampler warns once, as the floor is then above a real
//   reward). NaN or +inf log R is an error naming the
//   row and position, and so is a finite log R above 1 / epsilon of S (8388608 in float), where
//   S can no longer resolve log q next to it.
// * log q(STOP | s_t) = -inf means STOP was masked at s_t (min length). The stop-flow identity
//   log F(s) = log R(s STOP) - log q(STOP | s) is then undefined, so s_t is not used as an end
//   point of any balance term (it still appears inside longer sub-trajectories, where its flow
//   cancels). A stopped row whose final log_stop is -inf took a zero-probability STOP: error.
// * log_pf must be finite (a taken action has positive probability); log_flow, when present,
//   must be finite. Violations throw gfnlm::Error naming the row and position.
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/parameter.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <vector>

namespace gfnlm {

template <class O>
concept Objective = requires(O o, const BasicTrajectoryBatch<float>& batch_f,
                             BasicTrajectoryGrad<float>& grad_f,
                             const BasicTrajectoryBatch<double>& batch_d,
                             BasicTrajectoryGrad<double>& grad_d) {
  { o(batch_f, grad_f) } -> std::convertible_to<double>;
  { o(batch_d, grad_d) } -> std::convertible_to<double>;
  { o.parameters() } -> std::convertible_to<ParameterList<float>>;
};

// Default clamp for log R = -inf (see the conventions above).
inline constexpr double kDefaultLogRewardFloor = -100.0;

namespace detail {

// Checks the batch's shapes once, then reads rows in double with the conventions above.
template <class S>
class RowReader {
 public:
  RowReader(const BasicTrajectoryBatch<S>& batch, double log_reward_floor, const char* objective)
      : batch_(batch), floor_(log_reward_floor), name_(objective) {
    const int rows = batch.rows();
    const std::size_t max_len = batch.actions.shape()[1];
    GFNLM_CHECK(batch.actions.shape()[0] == std::size_t(rows), "{}: actions has {} rows, length {}",
                name_, batch.actions.shape()[0], rows);
    GFNLM_CHECK(batch.log_pf.shape()[0] == std::size_t(rows) && batch.log_pf.shape()[1] == max_len,
                "{}: log_pf shape [{}, {}], expected [{}, {}]", name_, batch.log_pf.shape()[0],
                batch.log_pf.shape()[1], rows, max_len);
    for (const auto* t : {&batch.log_stop, &batch.log_r})
      GFNLM_CHECK(t->shape()[0] == std::size_t(rows) && t->shape()[1] == max_len + 1,
                  "{}: log_stop / log_r shape [{}, {}], expected [{}, {}]", name_, t->shape()[0],
                  t->shape()[1], rows, max_len + 1);
    GFNLM_CHECK(
        batch.stopped.size() == std::size_t(rows) && batch.query.size() == std::size_t(rows),
        "{}: stopped has {} and query {} entries for {} rows", name_, batch.stopped.size(),
        batch.query.size(), rows);
    for (int b = 0; b < rows; ++b)
      GFNLM_CHECK(batch.length[b] >= 0 && std::size_t(batch.length[b]) <= max_len,
                  "{}: row {} has length {} outside [0, {}]", name_, b, batch.length[b], max_len);
  }

  // The largest log R the batch's scalar resolves to better than a nat (see log_r).
  static constexpr double kMaxLogR = 1.0 / double(std::numeric_limits<S>::epsilon());

  bool has_flow() const { return batch_.log_flow.size() > 0; }
  void require_flow() const {
    GFNLM_CHECK(batch_.log_flow.shape()[0] == std::size_t(batch_.rows()) &&
                    batch_.log_flow.shape()[1] == batch_.log_stop.shape()[1],
                "{}: log_flow shape [{}, {}], expected [{}, {}] (learned flow mode)", name_,
                batch_.log_flow.shape()[0], batch_.log_flow.shape()[1], batch_.rows(),
                batch_.log_stop.shape()[1]);
  }

  int length(int b) const { return batch_.length[b]; }
  bool stopped(int b) const { return batch_.stopped[b]; }

  // log R(s_t STOP), with -inf clamped to the floor.
  double log_r(int b, int t) const {
    const double v = batch_.log_r(b, t);
    GFNLM_CHECK(!std::isnan(v) && v != std::numeric_limits<double>::infinity(),
                "{}: log_r[{}][{}] is {}: a NaN or +inf reward, or a finite one too large for the "
                "batch's {} (largest finite {})",
                name_, b, t, v, scalar_name(), std::numeric_limits<S>::max());
    // Past 1 / epsilon the spacing of S is >= 1 nat, so log R - log q no longer resolves log q
    // and training is noise; in float that is log R > 8388608.
    GFNLM_CHECK(v <= kMaxLogR,
                "{}: log_r[{}][{}] = {} is finite but too large for the batch's {}: above {} its "
                "rounding step is >= 1 nat, so the balance residuals lose log q entirely; rescale "
                "the reward (or raise the reward temperature)",
                name_, b, t, v, scalar_name(), kMaxLogR);
    // Only a zero reward is clamped. Clamping finite values too flattened every log R under the
    // floor into one: with likelihood rewards (-50 to -400 nats) garbage then scored as well as
    // text -100 nats likelier, and sentence continuation drifted to garbage in 20-60 steps.
    return v == -std::numeric_limits<double>::infinity() ? floor_ : v;
  }

  double log_pf(int b, int t) const {
    const double v = batch_.log_pf(b, t);
    GFNLM_CHECK(std::isfinite(v), "{}: log_pf[{}][{}] is {} (must be finite)", name_, b, t, v);
    return v;
  }

  // log q(STOP | s_t); 0 at the last state of a max-length row; may be -inf before the end.
  double log_stop(int b, int t) const {
    if (t == batch_.length[b] && !batch_.stopped[b]) return 0.0;
    const double v = batch_.log_stop(b, t);
    GFNLM_CHECK(!std::isnan(v) && v != std::numeric_limits<double>::infinity(),
                "{}: log_stop[{}][{}] is {}", name_, b, t, v);
    GFNLM_CHECK(t < batch_.length[b] || std::isfinite(v),
                "{}: row {} stopped at position {} where log q(STOP) = {}", name_, b, t, v);
    return v;
  }

  // True when log_stop enters the loss at (b, t) (false at the end of a max-length row).
  bool stop_is_variable(int b, int t) const { return t < batch_.length[b] || batch_.stopped[b]; }

  double log_flow(int b, int t) const {
    const double v = batch_.log_flow(b, t);
    GFNLM_CHECK(std::isfinite(v), "{}: log_flow[{}][{}] is {} (must be finite)", name_, b, t, v);
    return v;
  }

 private:
  static constexpr const char* scalar_name() {
    return sizeof(S) == sizeof(float) ? "float" : "double";
  }

  const BasicTrajectoryBatch<S>& batch_;
  double floor_;
  const char* name_;
};

// lambda^k for k = 0 .. n-1.
inline std::vector<double> powers(double lambda, int n) {
  std::vector<double> p(std::size_t(n > 0 ? n : 0), 1.0);
  for (int k = 1; k < n; ++k) p[k] = p[k - 1] * lambda;
  return p;
}

// Sub-trajectory balance on one row in "potential" form. With C_t = log F(s_t) - P_t, where P_t
// is the sum of the log-probabilities of transitions 0..t-1, the balance residual of the
// sub-trajectory s_i -> s_j is C_i - C_j (SPEC section 2: the deltas telescope). Given C and a
// validity mask (a state may be an end point), adds sum_{i<j valid, j-i<=max_span} w_{j-i}
// (C_i - C_j)^2 to `sum` and the weights to `weight`, and writes d sum / d C into dc (the caller
// scales it). w[k] weights span k (w[k] = lambda^(k-1)).
inline void pairwise_balance(const std::vector<double>& c, const std::vector<char>& valid,
                             const std::vector<double>& w, int max_span, double& sum,
                             double& weight, std::vector<double>& dc) {
  const int n = static_cast<int>(c.size());
  dc.assign(std::size_t(n), 0.0);
  for (int i = 0; i < n; ++i) {
    if (!valid[i]) continue;
    const int last = max_span > 0 && i + max_span < n - 1 ? i + max_span : n - 1;
    for (int j = i + 1; j <= last; ++j) {
      if (!valid[j]) continue;
      const double r = c[i] - c[j];
      const double wk = w[j - i];
      sum += wk * r * r;
      weight += wk;
      dc[i] += 2.0 * wk * r;
      dc[j] -= 2.0 * wk * r;
    }
  }
}

}  // namespace detail
}  // namespace gfnlm
