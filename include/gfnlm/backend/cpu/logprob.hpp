#pragma once
// Log-softmax with gathered log-probabilities: for each of N positions, log p(idx[n,k]) for K
// indices (the GFlowNet losses need the chosen token and the stop token at every state, SPEC
// section 2; cross-entropy is K = 1). Backward turns d logp into d logits without forming the
// full log-softmax: dlogits_v = sum_k dlogp_k [v = idx_k] - softmax_v * sum_k dlogp_k.
#include <Eigen/Core>

#include <cmath>
#include <cstdint>

namespace gfnlm::cpu {

struct LogProbKernels {
  template <class S>
  using Row = Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>>;

  // logits: [N,V]; idx: [N,K] (negative = ignored, logp 0); logp: [N,K]; lse: [N].
  template <class S>
  static void logprob_forward(S* logp, S* lse, const S* logits, const int32_t* idx, int N, int V,
                              int K) {
#pragma omp parallel for if (static_cast <long>(N) * V > (1L << 15))
    for (int n = 0; n < N; ++n) {
      const S* x = logits + static_cast<long>(n) * V;
      const Row<S> row(x, V);
      const S hi = row.maxCoeff();
      const S l = hi + std::log((row - hi).exp().sum());  // Eigen's exp is vectorised
      lse[n] = l;
      for (int k = 0; k < K; ++k) {
        const int32_t i = idx[static_cast<long>(n) * K + k];
        logp[static_cast<long>(n) * K + k] = i >= 0 ? x[i] - l : S(0);
      }
    }
  }

  // dlogits (= or += when accumulate) from dlogp [N,K], using lse from the forward.
  template <class S>
  static void logprob_backward(S* dlogits, const S* dlogp, const S* logits, const S* lse,
                               const int32_t* idx, int N, int V, int K, bool accumulate = false) {
#pragma omp parallel for if (static_cast <long>(N) * V > (1L << 15))
    for (int n = 0; n < N; ++n) {
      const S* x = logits + static_cast<long>(n) * V;
      S* d = dlogits + static_cast<long>(n) * V;
      S total = 0;
      for (int k = 0; k < K; ++k)
        if (idx[static_cast<long>(n) * K + k] >= 0) total += dlogp[static_cast<long>(n) * K + k];
      const Row<S> row(x, V);
      Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>> out(d, V);
      if (accumulate)
        out -= total * (row - lse[n]).exp();
      else
        out = -total * (row - lse[n]).exp();
      for (int k = 0; k < K; ++k) {
        const int32_t i = idx[static_cast<long>(n) * K + k];
        if (i >= 0) d[i] += dlogp[static_cast<long>(n) * K + k];
      }
    }
  }
};

}  // namespace gfnlm::cpu
