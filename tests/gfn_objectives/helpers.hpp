#pragma once
// Random batches and a finite-difference checker for the objective tests.
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/objectives/objective.hpp>
#include <gfnlm/gfn/trajectory.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace gfnlm::test {

// B rows, L max actions: ragged lengths (0..L), some rows at max length without STOP, entries
// past every row set to NaN so that reading one poisons the loss.
inline BasicTrajectoryBatch<double> random_batch(Rng& rng, int rows, int max_len, bool with_flow,
                                                 int num_queries = 1) {
  BasicTrajectoryBatch<double> b;
  b.resize(rows, max_len);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  b.log_pf.fill(nan);
  b.log_stop.fill(nan);
  b.log_r.fill(nan);
  if (with_flow) b.log_flow = Tensor<double, 2>({std::size_t(rows), std::size_t(max_len + 1)}, nan);
  for (int r = 0; r < rows; ++r) {
    const int e = r == 0 ? max_len : r == 1 ? 0 : int(rng.below(max_len + 1));
    b.length[r] = e;
    b.stopped[r] = !(e == max_len && (r == 0 || rng.uniform() < 0.5));
    b.query[r] = int(rng.below(num_queries));
    for (int t = 0; t < e; ++t) {
      b.actions(r, t) = int32_t(rng.below(3));
      b.log_pf(r, t) = rng.uniform(-3.0, -0.05);
    }
    for (int t = 0; t <= e; ++t) {
      b.log_stop(r, t) = rng.uniform(-4.0, -0.05);
      b.log_r(r, t) = rng.uniform(-12.0, 2.0);
      if (with_flow) b.log_flow(r, t) = rng.uniform(-6.0, 6.0);
    }
    if (!b.stopped[r]) b.log_stop(r, e) = nan;  // must be ignored
  }
  return b;
}

struct FdReport {
  double max_rel = 0;  // max |fd - analytic| / max(|fd|, |analytic|, 1e-3 * scale)
  double max_abs = 0;
  double scale = 0;  // max |analytic|
  int checked = 0;
  std::string worst;
};

// Central differences of loss(batch) over every entry the objective reads; the losses are
// quadratic in each entry, so central differences are exact up to rounding.
template <class Obj>
FdReport check_gradients(Obj& objective, BasicTrajectoryBatch<double> batch, double h = 1e-4) {
  BasicTrajectoryGrad<double> grad, scratch;
  objective(batch, grad);
  FdReport rep;
  struct Entry {
    Tensor<double, 2>* value;
    const Tensor<double, 2>* analytic;
    int r, t;
    const char* name;
  };
  std::vector<Entry> entries;
  for (int r = 0; r < batch.rows(); ++r) {
    const int e = batch.length[r];
    for (int t = 0; t < e; ++t) entries.push_back({&batch.log_pf, &grad.log_pf, r, t, "log_pf"});
    for (int t = 0; t <= e; ++t) {
      if (t < e || batch.stopped[r])
        if (std::isfinite(batch.log_stop(r, t)))
          entries.push_back({&batch.log_stop, &grad.log_stop, r, t, "log_stop"});
      if (batch.log_flow.size() > 0)
        entries.push_back({&batch.log_flow, &grad.log_flow, r, t, "log_flow"});
    }
  }
  std::vector<double> fd(entries.size());
  for (std::size_t k = 0; k < entries.size(); ++k) {
    auto& x = (*entries[k].value)(entries[k].r, entries[k].t);
    const double x0 = x;
    x = x0 + h;
    const double lp = objective(batch, scratch);
    x = x0 - h;
    const double lm = objective(batch, scratch);
    x = x0;
    fd[k] = (lp - lm) / (2 * h);
    rep.scale = std::max(rep.scale, std::abs((*entries[k].analytic)(entries[k].r, entries[k].t)));
  }
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const double an = (*entries[k].analytic)(entries[k].r, entries[k].t);
    const double err = std::abs(fd[k] - an);
    const double rel = err / std::max({std::abs(fd[k]), std::abs(an), 1e-3 * rep.scale});
    rep.max_abs = std::max(rep.max_abs, err);
    if (rel > rep.max_rel) {
      rep.max_rel = rel;
      rep.worst = std::string(entries[k].name) + "[" + std::to_string(entries[k].r) + "][" +
                  std::to_string(entries[k].t) + "] fd=" + std::to_string(fd[k]) +
                  " analytic=" + std::to_string(an);
    }
    ++rep.checked;
  }
  return rep;
}

}  // namespace gfnlm::test
