#pragma once
// The CPU backend's general matrix products, C = alpha op(A) op(B) + beta C on row-major storage
// with leading dimensions. Built with OpenBLAS (CMake finds it by default: GFNLM_OPENBLAS=AUTO,
// which defines GFNLM_WITH_CBLAS) they are cblas_sgemm / cblas_dgemm calls; otherwise Eigen
// products over strided maps of the caller's storage.
//   threaded_gemm: one product split over the OpenMP threads (the linear layers, matmul.hpp);
//   serial_gemm:   one product on the calling thread (attention's per-head products, which run
//                  inside a parallel loop over (batch, head)).
#include <Eigen/Core>

#ifdef GFNLM_WITH_CBLAS
#include <cblas.h>  // OpenBLAS's: it also declares openblas_{get,set}_num_threads
#include <omp.h>

#include <algorithm>
#endif

namespace gfnlm::cpu {

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

// Before a parallel loop whose body calls serial_gemm: OpenBLAS must not start threads of its own
// inside it (set here, on one thread, not by every caller at once).
inline void prepare_serial_gemm() {
#ifdef GFNLM_WITH_CBLAS
  openblas_single_threaded();
#endif
}

template <class S>
void serial_gemm(bool trans_a, bool trans_b, int m, int n, int k, S alpha, const S* a, int lda,
                 const S* b, int ldb, S beta, S* c, int ldc) {
#ifdef GFNLM_WITH_CBLAS
  cblas_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  Eigen::Map<Mat, 0, Stride> out(c, m, n, Stride(ldc));
  Eigen::Map<const Mat, 0, Stride> A(a, trans_a ? k : m, trans_a ? m : k, Stride(lda)),
      B(b, trans_b ? n : k, trans_b ? k : n, Stride(ldb));
  auto run = [&](const auto& op_a, const auto& op_b) {
    if (beta == S(0)) {  // as BLAS: C is not read
      out.noalias() = alpha * (op_a * op_b);
      return;
    }
    if (beta != S(1)) out *= beta;
    out.noalias() += alpha * (op_a * op_b);
  };
  if (!trans_a && !trans_b)
    run(A, B);
  else if (!trans_a)
    run(A, B.transpose());
  else if (!trans_b)
    run(A.transpose(), B);
  else
    run(A.transpose(), B.transpose());
#endif
}

}  // namespace gfnlm::cpu
