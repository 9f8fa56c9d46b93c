#pragma once
// A minimal on-policy training loop over TabularPolicy, written out explicitly so the objective
// tests do not depend on the generic Sampler: roll out (on-policy or tempered), teacher-force at
// T = 1, log-softmax, objective, d loss / d logits, backward, AdamW.
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/objectives/objective.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <cmath>
#include <vector>

namespace gfnlm::test {

// log R of every sequence of policy.enumerate_sequences() (one query).
struct TabularTarget {
  std::vector<double> log_r;
  double log_z = 0;  // log sum R

  // log p_target for every sequence.
  std::vector<double> log_p() const {
    std::vector<double> out(log_r.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = log_r[i] - log_z;
    return out;
  }
};

inline TabularTarget random_target(const TabularPolicy& policy, Rng& rng, double low, double high) {
  TabularTarget t;
  t.log_r.resize(policy.enumerate_sequences().size());
  for (auto& v : t.log_r) v = rng.uniform(low, high);
  t.log_z = logsumexp(std::span<const double>(t.log_r));
  return t;
}

// KL(target || q) by exact enumeration, q over finished sequences (STOP forced at max_len).
inline double kl_target_q(const TabularPolicy& policy, const TabularTarget& target) {
  const auto log_q = policy.terminal_log_probs(0);
  const auto log_p = target.log_p();
  double kl = 0;
  for (std::size_t i = 0; i < log_p.size(); ++i) kl += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
  return kl;
}

// Sets the table to the exact target policy: F(s) = sum of R over sequences extending s,
// q(a | s) = F(s a) / F(s), q(STOP | s) = R(s) / F(s); STOP at max_len is forced anyway.
inline void set_exact(TabularPolicy& policy, const TabularTarget& target) {
  const auto seqs = policy.enumerate_sequences();
  std::vector<double> log_f(target.log_r);
  for (std::size_t i = seqs.size(); i-- > 1;) {  // children come after their parent
    auto parent = seqs[i];
    parent.pop_back();
    const auto p = policy.row_index(0, parent);
    log_f[p] = logaddexp(log_f[p], log_f[i]);
  }
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    auto row = policy.logits(0, seqs[i]);
    for (auto& v : row) v = -1e4f;
    if (seqs[i].size() == std::size_t(policy.max_len())) continue;
    row[policy.stop_token()] = static_cast<float>(target.log_r[i] - log_f[i]);
    for (int32_t a = 0; a < policy.vocab_size(); ++a) {
      if (a == policy.stop_token()) continue;
      auto child = seqs[i];
      child.push_back(a);
      row[a] = static_cast<float>(log_f[policy.row_index(0, child)] - log_f[i]);
    }
  }
}

struct Rollouts {
  TrajectoryBatch batch;
  Tensor<float, 3> logits;  // from score(), at T = 1
};

// n rows of query 0; each row samples at temperature 1 with probability p_on_policy, else at
// T ~ U[t_low, t_high]. STOP is forced at max_len (the row is marked not stopped).
inline Rollouts sample(TabularPolicy& policy, const TabularTarget& target, Rng& rng, int n,
                       double p_on_policy = 1.0, double t_low = 1.0, double t_high = 1.0) {
  const int V = policy.vocab_size(), L = policy.max_len();
  const int32_t stop = policy.stop_token();
  Rollouts out;
  auto& b = out.batch;
  b.resize(n, L);
  std::vector<int> queries(static_cast<std::size_t>(n), 0);
  std::vector<double> temp(static_cast<std::size_t>(n), 1.0);
  for (auto& t : temp) t = rng.uniform() < p_on_policy ? 1.0 : rng.uniform(t_low, t_high);
  std::vector<char> done(static_cast<std::size_t>(n), 0);
  std::vector<float> logits(std::size_t(n * V));
  std::vector<int32_t> tokens(static_cast<std::size_t>(n));
  std::vector<double> w(static_cast<std::size_t>(V));
  policy.start_rollout(queries);
  for (int step = 0; step <= L; ++step) {
    policy.next_logits(logits);
    for (int r = 0; r < n; ++r) {
      tokens[r] = -1;
      if (done[r]) continue;
      if (step == L) {  // max length: forced stop, no STOP action recorded
        b.length[r] = L, b.stopped[r] = false, done[r] = 1;
        continue;
      }
      double hi = -1e30;
      for (int v = 0; v < V; ++v) hi = std::max(hi, double(logits[r * V + v]) / temp[r]);
      for (int v = 0; v < V; ++v) w[v] = std::exp(double(logits[r * V + v]) / temp[r] - hi);
      const int a = rng.categorical(std::span<const double>(w));
      tokens[r] = a;
      if (a == stop) {
        b.length[r] = step, b.stopped[r] = true, done[r] = 1;
      } else {
        b.actions(r, step) = a;
      }
    }
    policy.advance(tokens);
  }
  policy.score(queries, b, out.logits);
  std::vector<double> lsm(static_cast<std::size_t>(V));
  for (int r = 0; r < n; ++r) {
    const int e = b.length[r];
    for (int t = 0; t <= e; ++t) {
      std::vector<double> row(static_cast<std::size_t>(V));
      for (int v = 0; v < V; ++v) row[v] = out.logits(r, t, v);
      log_softmax(std::span<const double>(row), std::span<double>(lsm));
      if (t < e) b.log_pf(r, t) = float(lsm[b.actions(r, t)]);
      b.log_stop(r, t) = (t == e && !b.stopped[r]) ? 0.0f : float(lsm[stop]);
      std::vector<int32_t> prefix(&b.actions(r, 0), &b.actions(r, 0) + t);
      b.log_r(r, t) = float(target.log_r[policy.row_index(0, prefix)]);
    }
  }
  return out;
}

// d loss / d logits from d loss / d log_pf and d loss / d log_stop (softmax at T = 1).
inline Tensor<float, 3> dlogits(const Rollouts& ro, const TrajectoryGrad& g, int32_t stop) {
  const auto& b = ro.batch;
  Tensor<float, 3> d(ro.logits.shape(), 0.0f);
  const int V = int(ro.logits.shape()[2]);
  std::vector<double> p(static_cast<std::size_t>(V));
  for (int r = 0; r < b.rows(); ++r)
    for (int t = 0; t <= b.length[r]; ++t) {
      double hi = -1e30, s = 0;
      for (int v = 0; v < V; ++v) hi = std::max(hi, double(ro.logits(r, t, v)));
      for (int v = 0; v < V; ++v) s += p[v] = std::exp(double(ro.logits(r, t, v)) - hi);
      const double gpf = t < b.length[r] ? g.log_pf(r, t) : 0.0, gs = g.log_stop(r, t);
      for (int v = 0; v < V; ++v) d(r, t, v) = float(-(gpf + gs) * p[v] / s);
      if (t < b.length[r]) d(r, t, b.actions(r, t)) += float(gpf);
      d(r, t, stop) += float(gs);
    }
  return d;
}

struct TrainOptions {
  int steps = 1000;
  int batch = 32;
  double lr = 0.05;
  double log_z_lr = 0.1;
  double p_on_policy = 0.5;
  double t_low = 1.0, t_high = 2.0;
  bool learned_flow = false;  // give the batch log_flow from a per-prefix table, trained too
};

// Trains policy on target with objective; returns the final KL(target || q).
template <class Obj>
double train(TabularPolicy& policy, const TabularTarget& target, Obj& objective, Rng& rng,
             const TrainOptions& opt, std::vector<double>* kl_trace = nullptr) {
  AdamW<float> adam(policy.parameters(), {.lr = opt.lr});
  auto own = objective.parameters();
  AdamW<float> own_adam(own, {.lr = opt.log_z_lr});
  // A learned state flow: one log F per prefix, a stand-in for a flow head.
  std::vector<float> flow(policy.num_prefixes(), 0.0f), flow_grad(flow.size(), 0.0f);
  ParameterList<float> flow_params{{"flow", flow.data(), flow_grad.data(), flow.size(), false}};
  AdamW<float> flow_adam(flow_params, {.lr = opt.lr});
  TrajectoryGrad grad;
  for (int step = 0; step < opt.steps; ++step) {
    auto ro = sample(policy, target, rng, opt.batch, opt.p_on_policy, opt.t_low, opt.t_high);
    auto& b = ro.batch;
    std::vector<std::vector<std::size_t>> state_index(static_cast<std::size_t>(b.rows()));
    if (opt.learned_flow) {
      b.log_flow = Tensor<float, 2>(b.log_stop.shape(), 0.0f);
      for (int r = 0; r < b.rows(); ++r)
        for (int t = 0; t <= b.length[r]; ++t) {
          std::vector<int32_t> prefix(&b.actions(r, 0), &b.actions(r, 0) + t);
          state_index[r].push_back(policy.row_index(0, prefix));
          b.log_flow(r, t) = flow[state_index[r].back()];
        }
    }
    zero_grad(policy.parameters());
    zero_grad(own);
    zero_grad(flow_params);
    objective(b, grad);
    policy.backward(dlogits(ro, grad, policy.stop_token()));
    adam.step();
    if (!own.empty()) own_adam.step();
    if (opt.learned_flow) {
      for (int r = 0; r < b.rows(); ++r)
        for (int t = 0; t <= b.length[r]; ++t) flow_grad[state_index[r][t]] += grad.log_flow(r, t);
      flow_adam.step();
    }
    if (kl_trace && (step + 1) % 100 == 0) kl_trace->push_back(kl_target_q(policy, target));
  }
  return kl_target_q(policy, target);
}

}  // namespace gfnlm::test
