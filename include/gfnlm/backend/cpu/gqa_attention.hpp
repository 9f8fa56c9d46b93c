#pragma once
// Causal grouped-query attention (Llama): NH query heads share NKV key/value heads, query head h
// reading kv head h / (NH / NKV); NKV = NH is ordinary multi-head attention. q, k, v arrive in
// separate tensors (after RoPE), so this sits beside the packed-qkv GPT-2 kernel rather than
// replacing it. Decoding reads keys and values from caches laid out [rows, maxT, NKV * hs].
// Part of the LlamaBackend concept (concept.hpp).
#include <gfnlm/backend/cpu/gemm.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace gfnlm::cpu {

struct GqaAttentionKernels {
  template <class S>
  using GMat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  template <class S>
  using GConstStrided = Eigen::Map<const GMat<S>, 0, Eigen::OuterStride<>>;

  // out: [B,T,NH*hs]; att: [B,NH,T,T] probabilities; q: [B,T,NH*hs]; k, v: [B,T,NKV*hs].
  template <class S>
  static void gqa_attention_forward(S* out, S* att, const S* q, const S* k, const S* v, int B,
                                    int T, int NH, int NKV, int hs) {
    const long C = static_cast<long>(NH) * hs, KV = static_cast<long>(NKV) * hs;
    const S scale = S(1) / std::sqrt(static_cast<S>(hs));
    const int group = NH / NKV;
    prepare_serial_gemm();
#pragma omp parallel for collapse(2) schedule(static) if (long(B) * NH * T * T * hs > 100000)
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < NH; ++h) {
        const long kv = b * T * KV + static_cast<long>(h / group) * hs;
        S* p = att + (static_cast<long>(b) * NH + h) * T * T;
        serial_gemm(false, true, T, T, hs, scale, q + b * T * C + h * hs, int(C), k + kv, int(KV),
                    S(0), p, T);
        for (int t = 0; t < T; ++t) softmax_prefix(p + static_cast<long>(t) * T, t + 1, T);
        serial_gemm(false, false, T, hs, T, S(1), p, T, v + kv, int(KV), S(0),
                    out + b * T * C + h * hs, int(C));
      }
  }

  // dq, dk, dv (overwritten) from dout; datt: scratch [B,NH,T,T]. Threads split over (b, kv
  // head) so the heads of a group, which add into the same dk / dv, stay on one thread.
  template <class S>
  static void gqa_attention_backward(S* dq, S* dk, S* dv, S* datt, const S* dout, const S* q,
                                     const S* k, const S* v, const S* att, int B, int T, int NH,
                                     int NKV, int hs) {
    const long C = static_cast<long>(NH) * hs, KV = static_cast<long>(NKV) * hs;
    const S scale = S(1) / std::sqrt(static_cast<S>(hs));
    const int group = NH / NKV;
    prepare_serial_gemm();
#pragma omp parallel for collapse(2) schedule(static) if (long(B) * NH * T * T * hs > 100000)
    for (int b = 0; b < B; ++b)
      for (int g = 0; g < NKV; ++g) {
        const long kv = b * T * KV + static_cast<long>(g) * hs;
        const int ld_kv = int(KV), ld_q = int(C);
        for (int h = g * group; h < (g + 1) * group; ++h) {
          const long qo = b * T * C + h * hs;
          const long aoff = (static_cast<long>(b) * NH + h) * T * T;
          Eigen::Map<const GMat<S>> p(att + aoff, T, T);
          Eigen::Map<GMat<S>> ds(datt + aoff, T, T);
          // The group's first head overwrites dk / dv, the others add to them.
          const S first = h == g * group ? S(0) : S(1);
          serial_gemm(true, false, T, hs, T, S(1), att + aoff, T, dout + qo, ld_q, first, dv + kv,
                      ld_kv);
          serial_gemm(false, true, T, T, hs, S(1), dout + qo, ld_q, v + kv, ld_kv, S(0), ds.data(),
                      T);
          for (int t = 0; t < T; ++t) {
            S dot = 0;
            for (int u = 0; u <= t; ++u) dot += p(t, u) * ds(t, u);
            for (int u = 0; u <= t; ++u) ds(t, u) = scale * p(t, u) * (ds(t, u) - dot);
            for (int u = t + 1; u < T; ++u) ds(t, u) = S(0);
          }
          serial_gemm(false, false, T, hs, T, S(1), ds.data(), T, k + kv, ld_kv, S(0), dq + qo,
                      ld_q);
          serial_gemm(true, false, T, hs, T, S(1), ds.data(), T, q + qo, ld_q, first, dk + kv,
                      ld_kv);
        }
      }
  }

  // Writes k, v [N, KV] into the caches [rows, maxT, KV] at (rows[n], positions[n]).
  template <class S>
  static void gqa_kv_cache_write(S* kcache, S* vcache, const S* k, const S* v, const int32_t* rows,
                                 const int32_t* positions, int N, int KV, int max_t) {
    for (int n = 0; n < N; ++n) {
      const long dst = (static_cast<long>(rows[n]) * max_t + positions[n]) * KV;
      std::copy(k + static_cast<long>(n) * KV, k + static_cast<long>(n + 1) * KV, kcache + dst);
      std::copy(v + static_cast<long>(n) * KV, v + static_cast<long>(n + 1) * KV, vcache + dst);
    }
  }

  // One query per token n over positions 0..positions[n] of its row. out: [N, NH*hs];
  // scores: scratch [N, NH, maxT].
  template <class S>
  static void gqa_attention_decode(S* out, S* scores, const S* q, const S* kcache, const S* vcache,
                                   const int32_t* rows, const int32_t* positions, int N, int NH,
                                   int NKV, int hs, int max_t) {
    const long C = static_cast<long>(NH) * hs, KV = static_cast<long>(NKV) * hs;
    const S scale = S(1) / std::sqrt(static_cast<S>(hs));
    const int group = NH / NKV;
#pragma omp parallel for collapse(2) schedule(static) if (long(N) * NH * max_t * hs > 100000)
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < NH; ++h) {
        const int len = positions[n] + 1;
        const long base = static_cast<long>(rows[n]) * max_t * KV + (h / group) * hs;
        GConstStrided<S> km(kcache + base, len, hs, Eigen::OuterStride<>(KV));
        GConstStrided<S> vm(vcache + base, len, hs, Eigen::OuterStride<>(KV));
        Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, 1>> qv(q + n * C + h * hs, hs);
        Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, 1>> p(
            scores + (static_cast<long>(n) * NH + h) * max_t, len);
        p.noalias() = scale * (km * qv);
        softmax_prefix(p.data(), len, len);
        Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, 1>> y(out + n * C + h * hs, hs);
        y.noalias() = vm.transpose() * p;
      }
  }

 private:
  template <class S>
  static void softmax_prefix(S* x, int len, int width) {
    Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>> a(x, len);
    a = (a - a.maxCoeff()).exp();
    a *= S(1) / a.sum();
    for (int u = len; u < width; ++u) x[u] = S(0);
  }
};

}  // namespace gfnlm::cpu
