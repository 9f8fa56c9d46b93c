#pragma once
// cuBLAS access: one handle per process (created on first use, on the current device), and
// float / double overloads of the column-major GEMMs the kernels call. cuBLAS is column-major and
// our tensors are row-major, so a row-major [R, K] matrix with leading dimension ld is read by
// cuBLAS as its transpose [K, R]; each caller computes the transposed product (C^T = B^T A^T).
// Default math mode: full float32 (no TF32), which the 1e-4 agreement with Cpu needs.
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/memory.cuh>

#include <cuda_bf16.h>

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace gfnlm::cuda {

// The arithmetic of float GEMMs (double GEMMs are always double). Tensors stay float32 in memory
// in every mode, so weights keep float32 master copies and the optimiser is unchanged:
// - fp32: cublasSgemm, exact float32 (the default; the 1e-4 agreement with Cpu needs it);
// - tf32: cuBLAS rounds the operands to tf32 on the tensor cores, float32 accumulation;
// - bf16: the linear layers' GEMMs round each operand to bf16 into a scratch buffer (our kernel),
//   then multiply bf16 x bf16 -> float32 on the tensor cores with float32 accumulation.
//   Attention's batched products run in tf32: their operands are the [T, T] score matrices,
//   whose conversion at every call cost more than the products (measured on an H200). cuBLAS's
//   own CUBLAS_COMPUTE_32F_FAST_16BF on float32 operands was measured to run tf32 kernels there.
enum class GemmPrecision { fp32, tf32, bf16 };

inline GemmPrecision& gemm_precision_setting() {
  static GemmPrecision precision = GemmPrecision::fp32;
  return precision;
}
// Process-wide, like cuBLAS's own math mode: set it before building models.
inline void set_gemm_precision(GemmPrecision p) {
  gemm_precision_setting() = p;
}
inline GemmPrecision gemm_precision() {
  return gemm_precision_setting();
}

inline GemmPrecision parse_gemm_precision(std::string_view name) {
  if (name == "fp32") return GemmPrecision::fp32;
  if (name == "tf32") return GemmPrecision::tf32;
  if (name == "bf16") return GemmPrecision::bf16;
  GFNLM_CHECK(false, "unknown GEMM precision '{}' (fp32, tf32 or bf16)", name);
  return GemmPrecision::fp32;
}
inline const char* to_string(GemmPrecision p) {
  return p == GemmPrecision::bf16 ? "bf16" : p == GemmPrecision::tf32 ? "tf32" : "fp32";
}

// dst (rows_p x cols_p, leading dimension ldd) = bf16(src) for a column-major rows x cols matrix
// (leading dimension ld), zero where src has no entry. Two rows per thread, so each warp stores
// 128 contiguous bytes (rows_p and ldd are even); block rows over columns.
__global__ inline void to_bf16_kernel(__nv_bfloat16* dst, int ldd, int rows_p, int cols_p,
                                      const float* src, int ld, int rows, int cols) {
  const int r = 2 * (blockIdx.x * blockDim.x + threadIdx.x);
  if (r >= rows_p) return;
  for (long c = blockIdx.y; c < cols_p; c += gridDim.y) {
    const bool in = c < cols;
    const float x0 = in && r < rows ? src[c * ld + r] : 0.0f;
    const float x1 = in && r + 1 < rows ? src[c * ld + r + 1] : 0.0f;
    *reinterpret_cast<__nv_bfloat162*>(dst + c * ldd + r) = __floats2bfloat162_rn(x0, x1);
  }
}

inline int round_up(int n, int multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

// Scratch buffers of the bf16 path, grown as needed (cudaFree waits for queued work).
template <class T>
T* gemm_scratch(int slot, std::size_t n) {
  static DeviceBuffer<T> buffers[2];
  auto& buf = buffers[slot];
  if (buf.size() < n) buf = DeviceBuffer<T>(n);
  return buf.data();
}

// A bf16 copy of op(X) (rows x cols; X column-major with leading dimension ld) in scratch `slot`,
// zero-padded to rows_p x cols_p (multiples of 8) with a leading dimension of a multiple of 8.
// Without the padding, GPT-2's vocabulary of 50257 as a GEMM dimension made cuBLAS take sm75
// "align1" kernels, 5x slower (measured on an H200).
inline const __nv_bfloat16* bf16_operand(int slot, cublasOperation_t op, int rows, int cols,
                                         int rows_p, int cols_p, const float* x, int ld) {
  const bool n = op == CUBLAS_OP_N;
  const int stored_rows = n ? rows : cols, stored_cols = n ? cols : rows;
  const int padded_rows = n ? rows_p : cols_p, padded_cols = n ? cols_p : rows_p;
  auto* dst =
      gemm_scratch<__nv_bfloat16>(slot, static_cast<std::size_t>(padded_rows) * padded_cols);
  const dim3 grid(blocks_for(padded_rows / 2, 256),
                  static_cast<unsigned>(std::min(padded_cols, 65535)));
  GFNLM_CUDA_LAUNCH(to_bf16_kernel, grid, 256, 0, dst, padded_rows, padded_rows, padded_cols, x, ld,
                    stored_rows, stored_cols);
  return dst;
}

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
  const GemmPrecision p = gemm_precision();
  if (p == GemmPrecision::fp32) {
    GFNLM_CUBLAS_CHECK(cublasSgemm(blas(), ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
    return;
  }
  if (p == GemmPrecision::tf32) {
    GFNLM_CUBLAS_CHECK(cublasGemmEx(blas(), ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B,
                                    CUDA_R_32F, ldb, &beta, C, CUDA_R_32F, ldc,
                                    CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    return;
  }
  // bf16 operands, every dimension padded to 8; C goes through a padded float scratch when a
  // dimension was padded or its columns are not 16-byte aligned.
  const int mp = round_up(m, 8), np = round_up(n, 8), kp = round_up(k, 8);
  const auto* a = bf16_operand(0, ta, m, k, mp, kp, A, lda);
  const auto* b = bf16_operand(1, tb, k, n, kp, np, B, ldb);
  const bool pad_c = mp != m || np != n || ldc % 4 != 0;
  float* c = C;
  int ldp = ldc;
  if (pad_c) {
    ldp = mp;
    c = gemm_scratch<float>(0, static_cast<std::size_t>(mp) * np);
    if (beta != 0.0f)
      GFNLM_CUDA_CHECK(cudaMemcpy2DAsync(c, sizeof(float) * ldp, C, sizeof(float) * ldc,
                                         sizeof(float) * m, n, cudaMemcpyDeviceToDevice));
  }
  GFNLM_CUBLAS_CHECK(cublasGemmEx(blas(), ta, tb, mp, np, kp, &alpha, a, CUDA_R_16BF,
                                  ta == CUBLAS_OP_N ? mp : kp, b, CUDA_R_16BF,
                                  tb == CUBLAS_OP_N ? kp : np, &beta, c, CUDA_R_32F, ldp,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  if (pad_c)
    GFNLM_CUDA_CHECK(cudaMemcpy2DAsync(C, sizeof(float) * ldc, c, sizeof(float) * ldp,
                                       sizeof(float) * m, n, cudaMemcpyDeviceToDevice));
}
inline void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, double alpha,
                 const double* A, int lda, const double* B, int ldb, double beta, double* C,
                 int ldc) {
  GFNLM_CUBLAS_CHECK(cublasDgemm(blas(), ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
}

inline void gemm_strided(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         float alpha, const float* A, int lda, long sa, const float* B, int ldb,
                         long sb, float beta, float* C, int ldc, long sc, int batch) {
  const GemmPrecision p = gemm_precision();
  if (p == GemmPrecision::fp32) {
    GFNLM_CUBLAS_CHECK(cublasSgemmStridedBatched(blas(), ta, tb, m, n, k, &alpha, A, lda, sa, B,
                                                 ldb, sb, &beta, C, ldc, sc, batch));
    return;
  }
  // tf32, and bf16 too (see GemmPrecision).
  GFNLM_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      blas(), ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, sa, B, CUDA_R_32F, ldb, sb, &beta, C,
      CUDA_R_32F, ldc, sc, batch, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
}
inline void gemm_strided(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         double alpha, const double* A, int lda, long sa, const double* B, int ldb,
                         long sb, double beta, double* C, int ldc, long sc, int batch) {
  GFNLM_CUBLAS_CHECK(cublasDgemmStridedBatched(blas(), ta, tb, m, n, k, &alpha, A, lda, sa, B, ldb,
                                               sb, &beta, C, ldc, sc, batch));
}

}  // namespace gfnlm::cuda
