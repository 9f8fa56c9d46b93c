#pragma once
// Shared pieces of the sampler tests: an enumerable target over the TabularPolicy's sequences and
// the exact KL(target || q).
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace gfnlm::test {

// Random log R for every sequence of the policy's space, rescaled so that max - min == spread.
struct EnumerableTarget {
  std::vector<std::vector<int32_t>> sequences;
  std::vector<double> log_r;
  std::map<std::vector<int32_t>, double> table;

  EnumerableTarget(const TabularPolicy& policy, uint64_t seed, double spread) {
    sequences = policy.enumerate_sequences();
    Rng rng(seed);
    for (std::size_t i = 0; i < sequences.size(); ++i) log_r.push_back(rng.normal());
    const auto [lo, hi] = std::minmax_element(log_r.begin(), log_r.end());
    const double a = *lo, scale = spread / (*hi - *lo);
    for (double& v : log_r) v = (v - a) * scale - spread / 2;
    for (std::size_t i = 0; i < sequences.size(); ++i) table[sequences[i]] = log_r[i];
  }

  double operator()(std::span<const int32_t> z) const {
    return table.at(std::vector<int32_t>(z.begin(), z.end()));
  }

  double spread() const {
    const auto [lo, hi] = std::minmax_element(log_r.begin(), log_r.end());
    return *hi - *lo;
  }

  // KL(target || q) with q the policy's exact terminal distribution for `query`.
  double kl(const TabularPolicy& policy, int query = 0) const {
    const auto log_q = policy.terminal_log_probs(query);
    double hi = -INFINITY;
    for (double v : log_r) hi = std::max(hi, v);
    double z = 0;
    for (double v : log_r) z += std::exp(v - hi);
    const double log_z = hi + std::log(z);
    double kl = 0;
    for (std::size_t i = 0; i < log_r.size(); ++i) {
      const double log_p = log_r[i] - log_z;
      kl += std::exp(log_p) * (log_p - log_q[i]);
    }
    return kl;
  }
};

// log q(s STOP) under `mask` of every sequence of policy.enumerate_sequences(), by hand: the
// masked log-softmax of the policy's logits at each state (-inf for sequences the mask forbids,
// a row of max_len stopping there with q(STOP) = 1).
inline std::vector<double> masked_terminal_log_probs(const TabularPolicy& policy,
                                                     const LogitMask& mask, int query = 0) {
  std::vector<double> out;
  for (const auto& seq : policy.enumerate_sequences()) {
    double log_q = 0;
    for (std::size_t t = 0; t <= seq.size(); ++t) {
      const bool at_end = t == seq.size();
      if (at_end && seq.size() == std::size_t(policy.max_len())) break;
      const auto prefix = std::span<const int32_t>(seq).first(t);
      const auto row = policy.logits(query, prefix);
      std::vector<double> legal;
      for (int v = 0; v < policy.vocab_size(); ++v) {
        const bool banned =
            !mask.allowed(v) || (v == policy.stop_token() && mask.bans_stop_after(prefix));
        legal.push_back(banned ? -INFINITY : double(row[v]));
      }
      const double lse = logsumexp(std::span<const double>(legal));
      log_q += legal[at_end ? policy.stop_token() : seq[t]] - lse;
    }
    out.push_back(log_q);
  }
  return out;
}

}  // namespace gfnlm::test
