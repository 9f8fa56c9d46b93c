#pragma once
// Linear layers: out = alpha * (inp @ W^T) + bias with W row-major [OUT, IN] (PyTorch nn.Linear and
// llm.c layout). With OpenBLAS the products are gemm.hpp's threaded_gemm (one single-threaded
// OpenBLAS call per OpenMP thread on its own block of the output); otherwise Eigen products over
// maps of the caller's storage (DESIGN: one copy of every tensor), which Eigen splits over the
// OpenMP threads itself. Decoding's few-row products stream the weights either way.
#include <gfnlm/backend/cpu/gemm.hpp>
#include <gfnlm/core/tensor.hpp>

#include <algorithm>
#include <type_traits>

namespace gfnlm::cpu {

// Pointer arguments that may be null do not take part in deducing S.
template <class S>
using Nullable = std::type_identity_t<S>;

struct MatmulKernels {
  // out: [N,OUT]; inp: [N,IN]; weight: [OUT,IN]; bias: [OUT] or null.
  // accumulate = true adds to out (LoRA's low-rank path joins the base output this way).
  template <class S>
  static void matmul_forward(S* out, const S* inp, const S* weight, const Nullable<S>* bias, int N,
                             int IN, int OUT, S alpha = S(1), bool accumulate = false) {
    if (N <= kFewRows && static_cast<long>(IN) * OUT * sizeof(S) > kCachedWeightBytes) {
      few_rows_forward(out, inp, weight, bias, N, IN, OUT, alpha, accumulate);
      return;
    }
#ifdef GFNLM_WITH_CBLAS
    threaded_gemm(false, true, N, OUT, IN, alpha, inp, IN, weight, IN, accumulate ? S(1) : S(0),
                  out, OUT, [&](int r0, int r1, int c0, int c1) {
                    if (bias)
                      MatrixMap<S>(out, N, OUT).block(r0, c0, r1 - r0, c1 - c0).rowwise() +=
                          ConstVectorMap<S>(bias + c0, c1 - c0).transpose();
                  });
#else
    MatrixMap<S> o(out, N, OUT);
    ConstMatrixMap<S> x(inp, N, IN), w(weight, OUT, IN);
    if (accumulate)
      o.noalias() += alpha * (x * w.transpose());
    else if (alpha == S(1))
      o.noalias() = x * w.transpose();
    else
      o.noalias() = alpha * (x * w.transpose());
    if (bias) o.rowwise() += ConstVectorMap<S>(bias, OUT).transpose();
#endif
  }

  // Decoding multiplies a few rows (one token per sequence) by weights far larger than the cache.
  // Eigen's GEMM then spends most of its time packing W (issue 8: 46% of GPT-2 sampling in
  // gemm_pack_lhs); reading each weight row once and dotting it with every input row (4 weight
  // rows at a time, so one load of x serves 4 FMAs) streams W once with no copy.
  static constexpr int kFewRows = 16;
  static constexpr long kCachedWeightBytes = 1L << 20;

  template <class S>
  static void few_rows_forward(S* out, const S* inp, const S* weight, const S* bias, int N, int IN,
                               int OUT, S alpha, bool accumulate) {
    auto put = [&](int n, int o, S dot) {
      S& y = out[static_cast<long>(n) * OUT + o];
      y = (accumulate ? y : S(0)) + alpha * dot + (bias ? bias[o] : S(0));
    };
    const int blocks = (OUT + 3) / 4;
#pragma omp parallel for schedule(static) if (static_cast <long>(N) * IN * OUT > (1L << 22))
    for (int blk = 0; blk < blocks; ++blk) {
      const int o = 4 * blk;
      const S* w0 = weight + static_cast<long>(o) * IN;
      if (o + 4 > OUT) {  // the last 1..3 rows
        for (int r = o; r < OUT; ++r)
          for (int n = 0; n < N; ++n)
            put(n, r,
                ConstVectorMap<S>(weight + static_cast<long>(r) * IN, IN)
                    .dot(ConstVectorMap<S>(inp + static_cast<long>(n) * IN, IN)));
        continue;
      }
      const S *w1 = w0 + IN, *w2 = w1 + IN, *w3 = w2 + IN;
      for (int n = 0; n < N; ++n) {
        const S* x = inp + static_cast<long>(n) * IN;
        S a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
        for (int i = 0; i < IN; ++i) {
          a0 += w0[i] * x[i];
          a1 += w1[i] * x[i];
          a2 += w2[i] * x[i];
          a3 += w3[i] * x[i];
        }
        put(n, o, a0);
        put(n, o + 1, a1);
        put(n, o + 2, a2);
        put(n, o + 3, a3);
      }
    }
  }

  // dinp (=, or += when accumulate_dinp) alpha * dout @ W; dweight += alpha * dout^T @ inp;
  // dbias += sum_n dout (the bias is not scaled by alpha in forward). Any output pointer may be
  // null (frozen weights, or an input that needs no gradient).
  template <class S>
  static void matmul_backward(Nullable<S>* dinp, Nullable<S>* dweight, Nullable<S>* dbias,
                              const S* dout, const S* inp, const S* weight, int N, int IN, int OUT,
                              S alpha = S(1), bool accumulate_dinp = false) {
    ConstMatrixMap<S> d(dout, N, OUT);
#ifdef GFNLM_WITH_CBLAS
    if (dinp)
      threaded_gemm(false, false, N, IN, OUT, alpha, dout, OUT, weight, IN,
                    accumulate_dinp ? S(1) : S(0), dinp, IN, [](int, int, int, int) {});
    if (dweight)
      threaded_gemm(true, false, OUT, IN, N, alpha, dout, OUT, inp, IN, S(1), dweight, IN,
                    [](int, int, int, int) {});
#else
    ConstMatrixMap<S> w(weight, OUT, IN), x(inp, N, IN);
    if (dinp) {
      MatrixMap<S> dx(dinp, N, IN);
      if (accumulate_dinp)
        dx.noalias() += alpha * (d * w);
      else if (alpha == S(1))
        dx.noalias() = d * w;
      else
        dx.noalias() = alpha * (d * w);
    }
    if (dweight) MatrixMap<S>(dweight, OUT, IN).noalias() += alpha * (d.transpose() * x);
#endif
    if (dbias) bias_backward(dbias, dout, N, OUT);
  }

  // dbias += sum over rows of dout [N,OUT]: threads take blocks of columns, each summing its
  // columns in row order, so the result does not depend on the thread count.
  template <class S>
  static void bias_backward(S* dbias, const S* dout, int N, int OUT) {
    constexpr int kBlock = 64;
    const int blocks = (OUT + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1 && \
                                              static_cast <long>(N) * OUT > (1L << 15))
    for (int blk = 0; blk < blocks; ++blk) {
      const int c0 = blk * kBlock, width = std::min(kBlock, OUT - c0);
      VectorMap<S> acc(dbias + c0, width);
      for (int n = 0; n < N; ++n)
        acc += ConstVectorMap<S>(dout + static_cast<long>(n) * OUT + c0, width);
    }
  }
};

}  // namespace gfnlm::cpu
