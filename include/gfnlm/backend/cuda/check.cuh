#pragma once
// Error checking and launch helpers shared by the CUDA kernels (issue 7: "every CUDA call and
// launch checked, errors raised with the call named"). Every runtime and cuBLAS call goes through
// GFNLM_CUDA_CHECK / GFNLM_CUBLAS_CHECK, every launch through GFNLM_CUDA_LAUNCH, and a failure
// throws gfnlm::Error naming the call, the file and line, and CUDA's own message.
// Define GFNLM_CUDA_SYNC_LAUNCHES to synchronise after every launch, so an asynchronous fault is
// reported at the kernel that caused it (slow; for debugging and compute-sanitizer runs).
//
// Included only from .cu files (nvcc). fmt's constexpr paths must be on under nvcc (fmt turns them
// off for __NVCC__, after which g++ rejects fmt's own headers); the gfnlm::cuda CMake target
// passes FMT_USE_CONSTEXPR=1, and this default covers builds without it when included first.
#ifndef FMT_USE_CONSTEXPR
#define FMT_USE_CONSTEXPR 1
#endif

#include <gfnlm/core/error.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cstddef>

namespace gfnlm::cuda {

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  (void)cudaGetLastError();  // reset a non-sticky error so the next launch check does not see it
  throw Error(fmt::format("CUDA call {} failed at {}:{}: {} ({})", call, file, line,
                          cudaGetErrorName(status), cudaGetErrorString(status)));
}

inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(fmt::format("cuBLAS call {} failed at {}:{}: {} ({})", call, file, line,
                          cublasGetStatusName(status), cublasGetStatusString(status)));
}

// After a launch: configuration errors now, execution errors at the next synchronising call
// (or here, with GFNLM_CUDA_SYNC_LAUNCHES).
inline void check_launch(const char* kernel, const char* file, int line) {
  check(cudaGetLastError(), kernel, file, line);
#ifdef GFNLM_CUDA_SYNC_LAUNCHES
  check(cudaDeviceSynchronize(), kernel, file, line);
#endif
}

// Blocks of `threads` covering n items (at least one block; callers return early on n == 0).
inline unsigned blocks_for(long n, int threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

// True when the CUDA runtime sees at least one device (tests skip otherwise).
inline bool device_available() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear: "no device" / "no driver" is an answer, not a fault
    return false;
  }
  return count > 0;
}

}  // namespace gfnlm::cuda

#define GFNLM_CUDA_CHECK(call) ::gfnlm::cuda::check((call), #call, __FILE__, __LINE__)
#define GFNLM_CUBLAS_CHECK(call) ::gfnlm::cuda::check((call), #call, __FILE__, __LINE__)
// GFNLM_CUDA_LAUNCH(kernel, grid, block, shared_bytes, args...): launch on the default stream.
#define GFNLM_CUDA_LAUNCH(kernel, grid, block, shared, ...)   \
  do {                                                        \
    kernel<<<(grid), (block), (shared)>>>(__VA_ARGS__);       \
    ::gfnlm::cuda::check_launch(#kernel, __FILE__, __LINE__); \
  } while (false)
