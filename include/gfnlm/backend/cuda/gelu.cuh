#pragma once
// GELU, tanh form (GPT-2), and the residual add, elementwise on the device; the same argument
// lists as backend/cpu/gelu.hpp and backend/cpu/residual.hpp.
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>

namespace gfnlm::cuda {

template <class S>
__global__ void gelu_forward_kernel(S* out, const S* inp, long n) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const S k = static_cast<S>(0.7978845608028654);  // sqrt(2/pi)
  const S x = inp[i];
  out[i] = S(0.5) * x * (S(1) + dev_tanh(k * (x + S(0.044715) * x * x * x)));
}

// dinp may alias dout: each thread reads its element before writing it.
template <class S>
__global__ void gelu_backward_kernel(S* dinp, const S* inp, const S* dout, long n) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const S k = static_cast<S>(0.7978845608028654);
  const S x = inp[i];
  const S th = dev_tanh(k * (x + S(0.044715) * x * x * x));
  const S sech2 = S(1) - th * th;
  const S local =
      S(0.5) * (S(1) + th) + S(0.5) * x * sech2 * k * (S(1) + S(3) * S(0.044715) * x * x);
  dinp[i] = local * dout[i];
}

template <class S>
__global__ void residual_forward_kernel(S* out, const S* a, const S* b, long n) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

template <class S>
__global__ void residual_backward_kernel(S* da, S* db, const S* dout, long n) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const S d = dout[i];
  da[i] += d;
  db[i] += d;
}

struct GeluKernels {
  template <class S>
  static void gelu_forward(S* out, const S* inp, long n) {
    if (n <= 0) return;
    GFNLM_CUDA_LAUNCH(gelu_forward_kernel<S>, blocks_for(n, 256), 256, 0, out, inp, n);
  }
  // dinp = gelu'(inp) * dout (overwrites; dinp may alias dout).
  template <class S>
  static void gelu_backward(S* dinp, const S* inp, const S* dout, long n) {
    if (n <= 0) return;
    GFNLM_CUDA_LAUNCH(gelu_backward_kernel<S>, blocks_for(n, 256), 256, 0, dinp, inp, dout, n);
  }
};

struct ResidualKernels {
  template <class S>
  static void residual_forward(S* out, const S* a, const S* b, long n) {
    if (n <= 0) return;
    GFNLM_CUDA_LAUNCH(residual_forward_kernel<S>, blocks_for(n, 256), 256, 0, out, a, b, n);
  }
  template <class S>
  static void residual_backward(S* da, S* db, const S* dout, long n) {
    if (n <= 0) return;
    GFNLM_CUDA_LAUNCH(residual_backward_kernel<S>, blocks_for(n, 256), 256, 0, da, db, dout, n);
  }
};

}  // namespace gfnlm::cuda
