#pragma once
// The CPU backend's one log-softmax: fused, masked, gathered. For each of N items, log p(idx[n,k])
// for K indices of the logits row the RowMask names (the GFlowNet losses need the chosen token and
// the stop token at every state, SPEC section 2; cross-entropy is K = 1), with masked entries at
// probability 0. Backward turns d logp into d logits without forming the log-softmax:
// dlogits_v = sum_k dlogp_k [v = idx_k] - softmax_v * sum_k dlogp_k. And the masked, tempered
// categorical draw of a rollout step from a uniform per item (SPEC section 4).
//
// A mask is applied by adding a row of 0 / -inf (built once per call, one with STOP banned and
// one without), so the masked rows vectorise like the plain ones. The draw stays in double: it
// reproduces the host log-softmax the Sampler drew with before these kernels (same tokens from
// the same seed), and costs one pass per live row and step.
#include <gfnlm/backend/row_mask.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace gfnlm::cpu {

struct LogProbKernels {
  template <class S>
  using Row = Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>>;

  // The additive masks of a call: plain[v] = 0 / -inf by the vocabulary mask, banned[v] the same
  // with STOP at -inf too. Empty when the RowMask masks nothing.
  template <class S>
  struct AdditiveMasks {
    std::vector<S, Eigen::aligned_allocator<S>> plain, banned;
    AdditiveMasks(const RowMask& m, int V) {
      if (!m.allowed && !m.stop_banned) return;
      const S ninf = -std::numeric_limits<S>::infinity();
      plain.assign(V, S(0));
      if (m.allowed)
        for (int v = 0; v < V; ++v)
          if (!m.allowed[v]) plain[v] = ninf;
      if (m.stop_banned) {
        banned = plain;
        banned[m.stop] = ninf;
      }
    }
    // The mask of item n, or null when nothing is masked.
    const S* of(const RowMask& m, int n) const {
      if (plain.empty()) return nullptr;
      return m.stop_banned && m.stop_banned[n] ? banned.data() : plain.data();
    }
  };

  static long row_of(const RowMask& m, int n) { return m.rows ? m.rows[n] : n; }

  // logits: rows of V; idx: [N,K] (negative = ignored, logp 0); logp: [N,K] (-inf for a masked
  // index); lse: [N], the log-normaliser over the allowed entries.
  template <class S>
  static void logprob_forward(S* logp, S* lse, const S* logits, const int32_t* idx, int N, int V,
                              int K, const RowMask& mask = {}) {
    const AdditiveMasks<S> masks(mask, V);
    const S ninf = -std::numeric_limits<S>::infinity();
    int bad = -1;  // an item whose allowed logits are all -inf or not finite (reported below)
#pragma omp parallel for if (static_cast <long>(N) * V > (1L << 15))
    for (int n = 0; n < N; ++n) {
      const S* x = logits + row_of(mask, n) * V;
      const S* add = masks.of(mask, n);
      const Row<S> row(x, V);
      S l;
      if (add) {
        const auto masked = row + Row<S>(add, V);
        const S hi = masked.maxCoeff();
        l = hi + std::log((masked - hi).exp().sum());  // Eigen's exp is vectorised
      } else {
        const S hi = row.maxCoeff();
        l = hi + std::log((row - hi).exp().sum());
      }
      if (!std::isfinite(l)) {
#pragma omp critical(gfnlm_logprob_bad)
        bad = bad < 0 ? n : std::min(bad, n);
      }
      lse[n] = l;
      for (int k = 0; k < K; ++k) {
        const int32_t i = idx[static_cast<long>(n) * K + k];
        S v = S(0);
        if (i >= 0) v = add && add[i] == ninf ? ninf : x[i] - l;
        logp[static_cast<long>(n) * K + k] = v;
      }
    }
    GFNLM_CHECK(bad < 0, "log-softmax: logits row {} (item {}) is all masked or not finite",
                bad < 0 ? 0 : row_of(mask, bad), bad);
  }

  // dlogits rows (the same rows the mask names; = or += when accumulate) from dlogp [N,K], using
  // lse from the forward. dlogits may be the logits buffer itself (each row is read before it is
  // written). A masked index takes no gradient.
  template <class S>
  static void logprob_backward(S* dlogits, const S* dlogp, const S* logits, const S* lse,
                               const int32_t* idx, int N, int V, int K, bool accumulate = false,
                               const RowMask& mask = {}) {
    const AdditiveMasks<S> masks(mask, V);
    const S ninf = -std::numeric_limits<S>::infinity();
#pragma omp parallel for if (static_cast <long>(N) * V > (1L << 15))
    for (int n = 0; n < N; ++n) {
      const long r = row_of(mask, n);
      const S* x = logits + r * V;
      S* d = dlogits + r * V;
      const S* add = masks.of(mask, n);
      S total = 0;
      for (int k = 0; k < K; ++k) {
        const int32_t i = idx[static_cast<long>(n) * K + k];
        if (i >= 0 && !(add && add[i] == ninf)) total += dlogp[static_cast<long>(n) * K + k];
      }
      const Row<S> row(x, V);
      Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>> out(d, V);
      if (add) {
        // Times the allowed indicator: Eigen's vectorised exp clamps -inf to its lowest finite
        // input (AVX-512 here), so a masked entry came out ~1e-308, not the exact zero a masked
        // entry must get (tests/model/test_layers_fd.cpp).
        const Row<S> masked(add, V);
        const auto p = (row + masked - lse[n]).exp() * (masked > ninf).template cast<S>();
        if (accumulate)
          out -= total * p;
        else
          out = -total * p;
      } else if (accumulate) {
        out -= total * (row - lse[n]).exp();
      } else {
        out = -total * (row - lse[n]).exp();
      }
      for (int k = 0; k < K; ++k) {
        const int32_t i = idx[static_cast<long>(n) * K + k];
        if (i >= 0 && !(add && add[i] == ninf)) d[i] += dlogp[static_cast<long>(n) * K + k];
      }
    }
  }

  // One draw per item from softmax((masked logits row) / temperature[n]) at uniforms[n] in
  // [0, 1) (core/rng.hpp's categorical_at); tokens[n] the token, logq[n] (nullable) its
  // log-probability at temperature 1 under the masked distribution.
  template <class S>
  static void sample_tokens(int32_t* tokens, double* logq, const S* logits, int N, int V,
                            const double* temperature, const double* uniforms,
                            const RowMask& mask = {}) {
    const AdditiveMasks<S> masks(mask, V);
    int bad = -1;
#pragma omp parallel if (static_cast <long>(N) * V > (1L << 16))
    {
      std::vector<double> lp(V), w(V);
#pragma omp for
      for (int n = 0; n < N; ++n) {
        const S* x = logits + row_of(mask, n) * V;
        const S* add = masks.of(mask, n);
        double hi = -std::numeric_limits<double>::infinity();
        for (int v = 0; v < V; ++v) {
          lp[v] = static_cast<double>(add ? x[v] + add[v] : x[v]);
          hi = std::max(hi, lp[v]);
        }
        if (!(std::isfinite(hi))) {
#pragma omp critical(gfnlm_sample_bad)
          bad = bad < 0 ? n : std::min(bad, n);
          tokens[n] = -1;
          continue;
        }
        double sum = 0;
        for (int v = 0; v < V; ++v) sum += std::exp(lp[v] - hi);
        const double lse = hi + std::log(sum);
        const double inv_t = 1.0 / temperature[n];
        double top = -std::numeric_limits<double>::infinity();
        for (int v = 0; v < V; ++v) {
          lp[v] -= lse;
          top = std::max(top, lp[v] * inv_t);
        }
        for (int v = 0; v < V; ++v) w[v] = std::exp(lp[v] * inv_t - top);
        const int32_t a = categorical_at(std::span<const double>(w), uniforms[n]);
        tokens[n] = a;
        if (logq) logq[n] = lp[a];
      }
    }
    GFNLM_CHECK(bad < 0, "sample_tokens: logits row {} (item {}) is all masked or not finite",
                bad < 0 ? 0 : row_of(mask, bad), bad);
  }
};

}  // namespace gfnlm::cpu
