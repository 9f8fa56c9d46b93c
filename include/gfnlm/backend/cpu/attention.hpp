#pragma once
// Causal multi-head self-attention over a packed qkv tensor ([.., 3C]: q | k | v, head h at
// columns h*hs .. h*hs+hs of each third, as GPT-2's c_attn). Forward keeps the softmax
// probabilities for backward; the products per (batch, head) are serial_gemm calls (gemm.hpp) on
// the strided heads, one (batch, head) per thread at a time.
// Decoding reads keys and values from a cache laid out [rows, maxT, C].
#include <gfnlm/backend/cpu/gemm.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace gfnlm::cpu {

struct AttentionKernels {
  template <class S>
  using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  template <class S>
  using ConstStrided = Eigen::Map<const Mat<S>, 0, Eigen::OuterStride<>>;

  // out: [B,T,C]; att: [B,NH,T,T] softmax probabilities (upper triangle zero); qkv: [B,T,3C].
  template <class S>
  static void attention_forward(S* out, S* att, const S* qkv, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const S scale = S(1) / std::sqrt(static_cast<S>(hs));
    prepare_serial_gemm();
#pragma omp parallel for collapse(2) schedule(static) if (worth_threads(B, NH, T, T, hs))
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < NH; ++h) {
        const S* q = qkv + static_cast<long>(b) * T * 3 * C + h * hs;  // k at + C, v at + 2C
        S* p = att + (static_cast<long>(b) * NH + h) * T * T;
        serial_gemm(false, true, T, T, hs, scale, q, 3 * C, q + C, 3 * C, S(0), p, T);
        for (int t = 0; t < T; ++t) softmax_prefix(p + static_cast<long>(t) * T, t + 1, T);
        serial_gemm(false, false, T, hs, T, S(1), p, T, q + 2 * C, 3 * C, S(0),
                    out + static_cast<long>(b) * T * C + h * hs, C);
      }
  }

  // dqkv (overwritten) from dout; datt: scratch [B,NH,T,T].
  template <class S>
  static void attention_backward(S* dqkv, S* datt, const S* dout, const S* qkv, const S* att, int B,
                                 int T, int C, int NH) {
    const int hs = C / NH;
    const S scale = S(1) / std::sqrt(static_cast<S>(hs));
    prepare_serial_gemm();
#pragma omp parallel for collapse(2) schedule(static) if (worth_threads(B, NH, T, T, hs))
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < NH; ++h) {
        const long off = static_cast<long>(b) * T * 3 * C + h * hs;
        const S *q = qkv + off, *k = q + C, *v = q + 2 * C;
        S *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
        const S* dy = dout + static_cast<long>(b) * T * C + h * hs;
        const long aoff = (static_cast<long>(b) * NH + h) * T * T;
        Eigen::Map<const Mat<S>> p(att + aoff, T, T);
        Eigen::Map<Mat<S>> ds(datt + aoff, T, T);
        serial_gemm(true, false, T, hs, T, S(1), att + aoff, T, dy, C, S(0), dv, 3 * C);
        serial_gemm(false, true, T, T, hs, S(1), dy, C, v, 3 * C, S(0), ds.data(), T);  // dp
        for (int t = 0; t < T; ++t) {
          // softmax backward: ds = p * (dp - sum(p * dp)), then the 1/sqrt(hs) of the scores.
          S dot = 0;
          for (int u = 0; u <= t; ++u) dot += p(t, u) * ds(t, u);
          for (int u = 0; u <= t; ++u) ds(t, u) = scale * p(t, u) * (ds(t, u) - dot);
          for (int u = t + 1; u < T; ++u) ds(t, u) = S(0);
        }
        serial_gemm(false, false, T, hs, T, S(1), ds.data(), T, k, 3 * C, S(0), dq, 3 * C);
        serial_gemm(true, false, T, hs, T, S(1), ds.data(), T, q, 3 * C, S(0), dk, 3 * C);
      }
  }

  // Writes the k and v parts of qkv [N,3C] into the caches [rows,maxT,C] at (rows[n], pos[n]).
  template <class S>
  static void kv_cache_write(S* kcache, S* vcache, const S* qkv, const int32_t* rows,
                             const int32_t* positions, int N, int C, int max_t) {
    for (int n = 0; n < N; ++n) {
      const long dst = (static_cast<long>(rows[n]) * max_t + positions[n]) * C;
      const S* src = qkv + static_cast<long>(n) * 3 * C;
      std::copy(src + C, src + 2 * C, kcache + dst);
      std::copy(src + 2 * C, src + 3 * C, vcache + dst);
    }
  }

  // One query per token n, attending to positions 0..pos[n] of its row in the cache.
  // out: [N,C]; scores: scratch [N,NH,maxT].
  template <class S>
  static void attention_decode(S* out, S* scores, const S* qkv, const S* kcache, const S* vcache,
                               const int32_t* rows, const int32_t* positions, int N, int C, int NH,
                               int max_t) {
    const int hs = C / NH;
    const S scale = S(1) / std::sqrt(static_cast<S>(hs));
#pragma omp parallel for collapse(2) schedule(static) if (worth_threads(N, NH, max_t, 1, hs))
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < NH; ++h) {
        const int len = positions[n] + 1;
        const long cache = static_cast<long>(rows[n]) * max_t * C + h * hs;
        ConstStrided<S> k(kcache + cache, len, hs, Eigen::OuterStride<>(C));
        ConstStrided<S> v(vcache + cache, len, hs, Eigen::OuterStride<>(C));
        Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, 1>> q(
            qkv + static_cast<long>(n) * 3 * C + h * hs, hs);
        Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, 1>> p(
            scores + (static_cast<long>(n) * NH + h) * max_t, len);
        p.noalias() = scale * (k * q);
        softmax_prefix(p.data(), len, len);
        Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, 1>> y(out + static_cast<long>(n) * C + h * hs,
                                                          hs);
        y.noalias() = v.transpose() * p;
      }
  }

 private:
  // Threads cost a fork/join per call; below ~1e5 multiply-adds one thread is faster.
  static bool worth_threads(long a, long b, long c, long d, long e) {
    return a * b * c * d * e > 100000;
  }

  // In-place softmax over x[0..len), zero over x[len..width).
  template <class S>
  static void softmax_prefix(S* x, int len, int width) {
    Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>> a(x, len);
    a = (a - a.maxCoeff()).exp();  // Eigen's exp is vectorised
    a *= S(1) / a.sum();
    for (int u = len; u < width; ++u) x[u] = S(0);
  }
};

}  // namespace gfnlm::cpu
