#pragma once
// Warp and block reductions and the float/double maths the kernels share, so each kernel file
// reads like its CPU twin in backend/cpu/. Device code only.
#include <cuda_runtime.h>

#include <cmath>

namespace gfnlm::cuda {

__device__ inline float dev_exp(float x) {
  return expf(x);
}
__device__ inline double dev_exp(double x) {
  return exp(x);
}
__device__ inline float dev_log(float x) {
  return logf(x);
}
__device__ inline double dev_log(double x) {
  return log(x);
}
__device__ inline float dev_sqrt(float x) {
  return sqrtf(x);
}
__device__ inline double dev_sqrt(double x) {
  return sqrt(x);
}
__device__ inline float dev_tanh(float x) {
  return tanhf(x);
}
__device__ inline double dev_tanh(double x) {
  return tanh(x);
}

template <class S>
__device__ S neg_infinity() {
  return -static_cast<S>(INFINITY);
}

template <class S>
__device__ S warp_sum(S v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <class S>
__device__ S warp_max(S v) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const S o = __shfl_xor_sync(0xffffffffu, v, offset);
    v = o > v ? o : v;
  }
  return v;
}

// Sum / max over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. `scratch` is 32 elements of shared memory, reused across calls.
template <class S>
__device__ S block_sum(S v, S* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : S(0);
  return warp_sum(v);
}

template <class S>
__device__ S block_max(S v, S* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : neg_infinity<S>();
  return warp_max(v);
}

}  // namespace gfnlm::cuda
