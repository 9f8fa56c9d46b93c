#pragma once
// cuBLAS access: one handle per process (created on first use, on the current device), and
// float / double overloads of the column-major GEMMs the kernels call. cuBLAS is column-major and
// our tensors are row-major, so a row-major [R, K] matrix with leading dimension ld is read by
// cuBLAS as its transpose [K, R]; each caller computes the transposed product (C^T = B^T A^T).
// Default math mode: full float32 (no TF32), which the 1e-4 agreement with Cpu needs.
#include <gfnlm/backend/cuda/check.cuh>

namespace gfnlm::cuda {

class BlasHandle {
 public:
  BlasHandle() { GFNLM_CUBLAS_CHECK(cublasCreate(&handle_)); }
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  ~BlasHandle() { (void)cublasDestroy(handle_); }  // at exit; a failure cannot be reported
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

inline cublasHandle_t blas() {
  static BlasHandle handle;
  return handle.get();
}

inline void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
                 const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  GFNLM_CUBLAS_CHECK(cublasSgemm(blas(), ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
}
inline void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, double alpha,
                 const double* A, int lda, const double* B, int ldb, double beta, double* C,
                 int ldc) {
  GFNLM_CUBLAS_CHECK(cublasDgemm(blas(), ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
}

inline void gemm_strided(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         float alpha, const float* A, int lda, long sa, const float* B, int ldb,
                         long sb, float beta, float* C, int ldc, long sc, int batch) {
  GFNLM_CUBLAS_CHECK(cublasSgemmStridedBatched(blas(), ta, tb, m, n, k, &alpha, A, lda, sa, B, ldb,
                                               sb, &beta, C, ldc, sc, batch));
}
inline void gemm_strided(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         double alpha, const double* A, int lda, long sa, const double* B, int ldb,
                         long sb, double beta, double* C, int ldc, long sc, int batch) {
  GFNLM_CUBLAS_CHECK(cublasDgemmStridedBatched(blas(), ta, tb, m, n, k, &alpha, A, lda, sa, B, ldb,
                                               sb, &beta, C, ldc, sc, batch));
}

}  // namespace gfnlm::cuda
