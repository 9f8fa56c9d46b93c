#pragma once
// Shared by SubTB and DB (SPEC section 2): one row as a chain of nodes with "potentials".
// Nodes 0..e are the states s_0..s_e; node e+1 is the terminal (s_e STOP) with log F = log R.
// Transition t < e is the action z_t+1 (log q = log_pf[t]); transition e is STOP
// (log q = log_stop[e], 0 for a max-length row). With P_t = sum_{k<t} log q(transition k),
// C_t = log F(node t) - P_t, and the balance residual of the sub-trajectory i -> j is C_i - C_j.
//
// log F(s_t), t <= e, comes from either
//   FlowSource::stop_identity: log R(s_t STOP) - log q(STOP|s_t) (no flow network; a state with
//                              STOP masked is not an end point), or
//   FlowSource::learned:       batch.log_flow[b][t], a flow head's output (its gradient is
//                              written to grad.log_flow).
#include <gfnlm/gfn/objectives/objective.hpp>

#include <vector>

namespace gfnlm {

enum class FlowSource { stop_identity, learned };

namespace detail {

// Fills c and valid for row b (size e + 2, or e + 1 without the terminal node).
template <class S>
void flow_potentials(const RowReader<S>& rows, int b, FlowSource source, bool terminal,
                     std::vector<double>& c, std::vector<char>& valid) {
  const int e = rows.length(b);
  c.assign(std::size_t(e + 1 + (terminal ? 1 : 0)), 0.0);
  valid.assign(c.size(), 1);
  double prefix = 0;
  for (int t = 0; t <= e; ++t) {
    if (source == FlowSource::learned) {
      c[t] = rows.log_flow(b, t) - prefix;
    } else {
      const double ls = rows.log_stop(b, t);
      valid[t] = std::isfinite(ls);
      c[t] = valid[t] ? rows.log_r(b, t) - ls - prefix : 0.0;
    }
    if (t < e) prefix += rows.log_pf(b, t);
  }
  if (terminal) c[e + 1] = rows.log_r(b, e) - prefix - rows.log_stop(b, e);
}

// Writes scale * d/d(inputs) of a loss whose gradient wrt c is dc (overwrites row b of grad).
template <class S>
void backprop_potentials(const RowReader<S>& rows, int b, FlowSource source,
                         const std::vector<double>& dc, double scale,
                         BasicTrajectoryGrad<S>& grad) {
  const int e = rows.length(b);
  const int n = static_cast<int>(dc.size());
  std::vector<double> dstop(std::size_t(e + 1), 0.0);
  // -d/dP: transition k enters every C_t with t > k.
  double suffix = 0;
  for (int t = n - 1; t >= 0; --t) {
    if (t < e) grad.log_pf(b, t) = static_cast<S>(-suffix * scale);
    if (t == e && n == e + 2) dstop[e] -= suffix;  // the STOP transition, into the terminal
    suffix += dc[t];
  }
  for (int t = 0; t <= e; ++t) {
    if (source == FlowSource::learned)
      grad.log_flow(b, t) = static_cast<S>(dc[t] * scale);
    else
      dstop[t] -= dc[t];
    if (rows.stop_is_variable(b, t)) grad.log_stop(b, t) = static_cast<S>(dstop[t] * scale);
  }
}

}  // namespace detail
}  // namespace gfnlm
