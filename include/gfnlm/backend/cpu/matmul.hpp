#pragma once
// Linear layers: out = alpha * (inp @ W^T) + bias with W row-major [OUT, IN] (PyTorch nn.Linear and
// llm.c layout). Built with OpenBLAS (CMake finds it by default: GFNLM_OPENBLAS=AUTO; defines
// GFNLM_WITH_CBLAS) the GEMMs call cblas_sgemm / cblas_dgemm, one single-threaded call per OpenMP
// thread on its own block of the output; otherwise they are Eigen products over maps of the
// caller's storage (DESIGN: one copy of every tensor), which Eigen splits over the OpenMP threads
// itself. Decoding's few-row products stream the weights either way.
#include <gfnlm/core/tensor.hpp>

#ifdef GFNLM_WITH_CBLAS
#include <cblas.h>  // OpenBLAS's: it also declares openblas_{get,set}_num_threads
#include <omp.h>
#endif

#include <algorithm>
#include <type_traits>

namespace gfnlm::cpu {

// Pointer arguments that may be null do not take part in deducing S.
template <class S>
using Nullable = std::type_identity_t<S>;

#ifdef GFNLM_WITH_CBLAS
// C = alpha op(A) op(B) + beta C, all row-major.
inline void cblas_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                       int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void cblas_gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha,
                       const double* a, int lda, const double* b, int ldb, double beta, double* c,
                       int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// OpenBLAS's own thread pool spins between calls and fights OpenMP's for the cores (issue 8: the
// toy train step took 234 ms with it, 110 ms with Eigen). One OpenBLAS thread per OpenMP thread,
// each on its own block of C, reaches ~200 GFLOP/s on 2 cores at the toy shapes where OpenBLAS's
// threading reaches 140-190 and Eigen 120-165. So every product sets OpenBLAS to one thread: a
// process that also calls OpenBLAS itself gets single-threaded calls after gfnlm's products.
inline void openblas_single_threaded() {
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

// The same product as cblas_gemm, split over the OpenMP threads along C's longer side (rows of
// op(A) or columns of op(B)) in blocks of whole 16-row (or -column) panels. Each thread then calls
// epilogue(row_begin, row_end, col_begin, col_end) on the block of C it wrote, while it is in
// cache.
template <class S, class Epilogue>
void threaded_gemm(bool trans_a, bool trans_b, int m, int n, int k, S alpha, const S* a, int lda,
                   const S* b, int ldb, S beta, S* c, int ldc, Epilogue&& epilogue) {
  openblas_single_threaded();
  constexpr long kMinWorkPerThread = 1L << 17;  // multiply-adds; below this a fork/join costs more
  constexpr int kPanel = 16;
  const bool split_rows = m >= n;
  const int extent = split_rows ? m : n;
  const long work = static_cast<long>(m) * n * k;
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  threads = static_cast<int>(
      std::min<long>({threads, work / kMinWorkPerThread, (extent + kPanel - 1) / kPanel}));
  if (threads <= 1) {
    cblas_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    epilogue(0, m, 0, n);
    return;
  }
  const int panels = (extent + kPanel - 1) / kPanel;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int begin = std::min(extent, panels * t / nt * kPanel);
    const int end = std::min(extent, panels * (t + 1) / nt * kPanel);
    if (end > begin && split_rows) {  // rows of op(A): A's rows, or its columns when transposed
      cblas_gemm(trans_a, trans_b, end - begin, n, k, alpha,
                 trans_a ? a + begin : a + static_cast<long>(begin) * lda, lda, b, ldb, beta,
                 c + static_cast<long>(begin) * ldc, ldc);
      epilogue(begin, end, 0, n);
    } else if (end > begin) {  // columns of op(B): B's columns, or its rows when transposed
      cblas_gemm(trans_a, trans_b, m, end - begin, k, alpha, a, lda,
                 trans_b ? b + static_cast<long>(begin) * ldb : b + begin, ldb, beta, c + begin,
                 ldc);
      epilogue(0, m, begin, end);
    }
  }
}
#endif

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
