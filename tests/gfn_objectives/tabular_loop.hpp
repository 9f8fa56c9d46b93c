#pragma once
// A minimal on-policy training loop over TabularPolicy, written out explicitly so the objective
// tests do not depend on the generic Sampler: roll out (on-policy or tempered, the rollout
// engine), teacher-force at T = 1 (gathered log q), objective, backward, AdamW.
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/objectives/objective.hpp>
#include <gfnlm/gfn/rollout.hpp>
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
  TrajectoryBatch batch;  // log_pf / log_stop from score(), at T = 1
};

// n rows of query 0 through the rollout engine; each row samples at temperature 1 with
// probability p_on_policy, else at T ~ U[t_low, t_high]. STOP is forced at max_len (the row is
// marked not stopped).
inline Rollouts sample(TabularPolicy& policy, const TabularTarget& target, Rng& rng, int n,
                       double p_on_policy = 1.0, double t_low = 1.0, double t_high = 1.0) {
  const LogitMask mask(policy.vocab_size(), policy.stop_token(), 0);
  std::vector<int> queries(static_cast<std::size_t>(n), 0);
  std::vector<double> temp(static_cast<std::size_t>(n), 1.0);
  for (auto& t : temp) t = rng.uniform() < p_on_policy ? 1.0 : rng.uniform(t_low, t_high);
  std::vector<Trajectory> rows(static_cast<std::size_t>(n));
  std::vector<Trajectory*> out;
  for (auto& r : rows) out.push_back(&r);
  rollout(policy, std::span<const int>(queries), std::span<const double>(temp),
          RolloutSpec<int>{&mask, policy.max_len()}, rng, std::span<Trajectory* const>(out));
  Rollouts ro;
  auto& b = ro.batch;
  b = to_batch(rows, policy.max_len());
  for (int r = 0; r < n; ++r) b.query[r] = 0;
  policy.score(std::span<const int>(queries), mask, b);
  for (int r = 0; r < n; ++r) {
    const int e = b.length[r];
    if (!b.stopped[r]) b.log_stop(r, e) = 0.0f;  // q(STOP) = 1 at max_len
    for (int t = 0; t <= e; ++t) {
      std::vector<int32_t> prefix(&b.actions(r, 0), &b.actions(r, 0) + t);
      b.log_r(r, t) = float(target.log_r[policy.row_index(0, prefix)]);
    }
  }
  return ro;
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
    policy.backward(grad, 1.0);
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
