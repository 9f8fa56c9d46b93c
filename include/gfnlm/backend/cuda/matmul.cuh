#pragma once
// Linear layers on cuBLAS: out = alpha * (inp @ W^T) + bias with W row-major [OUT, IN], the same
// argument lists and semantics as backend/cpu/matmul.hpp. In cuBLAS's column-major view the
// row-major out [N, OUT] is out^T [OUT, N] = W (read as W^T [IN, OUT], transposed) * inp^T.
#include <gfnlm/backend/cuda/blas.cuh>
#include <gfnlm/backend/cuda/check.cuh>

#include <type_traits>

namespace gfnlm::cuda {

template <class S>
using Nullable = std::type_identity_t<S>;

template <class S>
__global__ void add_bias_kernel(S* out, const S* bias, long N, int OUT) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < N * OUT) out[i] += bias[i % OUT];
}

// dbias[o] += sum_n dout[n, o]: a thread per column and slab of rows, one atomic per slab.
constexpr int kBiasRowsPerSlab = 128;

template <class S>
__global__ void bias_grad_kernel(S* dbias, const S* dout, int N, int OUT) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= OUT) return;
  const int n0 = blockIdx.y * kBiasRowsPerSlab, n1 = min(N, n0 + kBiasRowsPerSlab);
  S sum = 0;
  for (int n = n0; n < n1; ++n) sum += dout[static_cast<long>(n) * OUT + o];
  atomicAdd(dbias + o, sum);
}

struct MatmulKernels {
  // out: [N,OUT]; inp: [N,IN]; weight: [OUT,IN]; bias: [OUT] or null. accumulate adds to out.
  template <class S>
  static void matmul_forward(S* out, const S* inp, const S* weight, const Nullable<S>* bias, int N,
                             int IN, int OUT, S alpha = S(1), bool accumulate = false) {
    if (N <= 0 || OUT <= 0) return;
    if (IN > 0)
      gemm(CUBLAS_OP_T, CUBLAS_OP_N, OUT, N, IN, alpha, weight, IN, inp, IN,
           accumulate ? S(1) : S(0), out, OUT);
    else if (!accumulate)
      GFNLM_CUDA_CHECK(cudaMemset(out, 0, sizeof(S) * static_cast<long>(N) * OUT));
    if (bias)
      GFNLM_CUDA_LAUNCH(add_bias_kernel<S>, blocks_for(static_cast<long>(N) * OUT, 256), 256, 0,
                        out, bias, static_cast<long>(N), OUT);
  }

  // dinp (=, or += when accumulate_dinp) alpha * dout @ W; dweight += alpha * dout^T @ inp;
  // dbias += sum_n dout. Any output may be null.
  template <class S>
  static void matmul_backward(Nullable<S>* dinp, Nullable<S>* dweight, Nullable<S>* dbias,
                              const S* dout, const S* inp, const S* weight, int N, int IN, int OUT,
                              S alpha = S(1), bool accumulate_dinp = false) {
    if (N <= 0 || IN <= 0 || OUT <= 0) return;
    // dinp^T [IN, N] = W^T [IN, OUT] * dout^T [OUT, N]
    if (dinp)
      gemm(CUBLAS_OP_N, CUBLAS_OP_N, IN, N, OUT, alpha, weight, IN, dout, OUT,
           accumulate_dinp ? S(1) : S(0), dinp, IN);
    // dW^T [IN, OUT] += inp^T [IN, N] * dout [N, OUT]
    if (dweight)
      gemm(CUBLAS_OP_N, CUBLAS_OP_T, IN, OUT, N, alpha, inp, IN, dout, OUT, S(1), dweight, IN);
    if (dbias) {
      const dim3 grid(blocks_for(OUT, 256), blocks_for(N, kBiasRowsPerSlab));
      GFNLM_CUDA_LAUNCH(bias_grad_kernel<S>, grid, 256, 0, dbias, dout, N, OUT);
    }
  }
};

}  // namespace gfnlm::cuda
