#pragma once
// LayerNorm over the last axis (eps 1e-5 as GPT-2) on the device; the same argument lists and
// semantics as backend/cpu/layernorm.hpp (mean / rstd / dweight / dbias nullable, dinp +=).
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>

#include <type_traits>

namespace gfnlm::cuda {

constexpr int kRowsPerBlock = 8;  // one warp per row, 8 warps per block

// Two passes over the row (mean, then variance about it), as the CPU kernel.
template <class S>
__global__ void layernorm_forward_kernel(S* out, S* mean, S* rstd, const S* inp, const S* weight,
                                         const S* bias, int N, int C) {
  const int n = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (n >= N) return;
  const S* x = inp + static_cast<long>(n) * C;
  S m = 0;
  for (int c = lane; c < C; c += 32) m += x[c];
  m = warp_sum(m) / C;
  S v = 0;
  for (int c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
  v = warp_sum(v) / C;
  const S r = S(1) / dev_sqrt(v + S(1e-5));
  S* o = out + static_cast<long>(n) * C;
  for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * r * weight[c] + bias[c];
  if (lane == 0) {
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = r;
  }
}

// dinp += r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dout * weight.
template <class S>
__global__ void layernorm_backward_input_kernel(S* dinp, const S* dout, const S* inp,
                                                const S* weight, const S* mean, const S* rstd,
                                                int N, int C) {
  const int n = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (n >= N) return;
  const S* x = inp + static_cast<long>(n) * C;
  const S* d = dout + static_cast<long>(n) * C;
  const S m = mean[n], r = rstd[n];
  S mean_d = 0, mean_dx = 0;
  for (int c = lane; c < C; c += 32) {
    const S dxhat = d[c] * weight[c];
    mean_d += dxhat;
    mean_dx += dxhat * (x[c] - m) * r;
  }
  mean_d = warp_sum(mean_d) / C;
  mean_dx = warp_sum(mean_dx) / C;
  S* g = dinp + static_cast<long>(n) * C;
  for (int c = lane; c < C; c += 32) {
    const S xhat = (x[c] - m) * r;
    g[c] += r * (d[c] * weight[c] - mean_d - xhat * mean_dx);
  }
}

// dweight / dbias: each thread sums one column over a slab of rows, then one atomic per slab.
constexpr int kParamRowsPerSlab = 64;

template <class S>
__global__ void layernorm_backward_params_kernel(S* dweight, S* dbias, const S* dout, const S* inp,
                                                 const S* mean, const S* rstd, int N, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int n0 = blockIdx.y * kParamRowsPerSlab;
  const int n1 = min(N, n0 + kParamRowsPerSlab);
  S gw = 0, gb = 0;
  for (int n = n0; n < n1; ++n) {
    const long i = static_cast<long>(n) * C + c;
    gw += dout[i] * (inp[i] - mean[n]) * rstd[n];
    gb += dout[i];
  }
  if (dweight) atomicAdd(dweight + c, gw);
  if (dbias) atomicAdd(dbias + c, gb);
}

struct LayerNormKernels {
  static constexpr double kEps = 1e-5;

  // out, inp: [N,C]; mean, rstd: [N] (nullable); weight, bias: [C].
  template <class S>
  static void layernorm_forward(S* out, std::type_identity_t<S>* mean,
                                std::type_identity_t<S>* rstd, const S* inp, const S* weight,
                                const S* bias, int N, int C) {
    if (N <= 0 || C <= 0) return;
    GFNLM_CUDA_LAUNCH(layernorm_forward_kernel<S>, blocks_for(N, kRowsPerBlock), 32 * kRowsPerBlock,
                      0, out, mean, rstd, inp, weight, bias, N, C);
  }

  // dinp += d/dinp; dweight, dbias (nullable, e.g. a frozen base) accumulate.
  template <class S>
  static void layernorm_backward(S* dinp, std::type_identity_t<S>* dweight,
                                 std::type_identity_t<S>* dbias, const S* dout, const S* inp,
                                 const S* weight, const S* mean, const S* rstd, int N, int C) {
    if (N <= 0 || C <= 0) return;
    GFNLM_CUDA_LAUNCH(layernorm_backward_input_kernel<S>, blocks_for(N, kRowsPerBlock),
                      32 * kRowsPerBlock, 0, dinp, dout, inp, weight, mean, rstd, N, C);
    if (!dweight && !dbias) return;
    const dim3 grid(blocks_for(C, 256), blocks_for(N, kParamRowsPerSlab));
    GFNLM_CUDA_LAUNCH(layernorm_backward_params_kernel<S>, grid, 256, 0, dweight, dbias, dout, inp,
                      mean, rstd, N, C);
  }
};

}  // namespace gfnlm::cuda
