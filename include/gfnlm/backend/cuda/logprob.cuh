#pragma once
// Fused log-softmax with gathered log-probabilities on the device (the chosen token's and the
// stop token's log q at every state, SPEC section 2), and its backward, without forming the full
// log-softmax: dlogits_v = sum_k dlogp_k [v = idx_k] - softmax_v * sum_k dlogp_k. The same
// argument lists and semantics as backend/cpu/logprob.hpp. One block per row.
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>

#include <cstdint>

namespace gfnlm::cuda {

constexpr int kRowThreads = 256;

template <class S>
__global__ void logprob_forward_kernel(S* logp, S* lse, const S* logits, const int32_t* idx, int V,
                                       int K) {
  __shared__ S scratch[32];
  const long n = blockIdx.x;
  const S* x = logits + n * V;
  S hi = neg_infinity<S>();
  for (int v = threadIdx.x; v < V; v += blockDim.x) hi = x[v] > hi ? x[v] : hi;
  hi = block_max(hi, scratch);
  S sum = 0;
  for (int v = threadIdx.x; v < V; v += blockDim.x) sum += dev_exp(x[v] - hi);
  const S l = hi + dev_log(block_sum(sum, scratch));
  if (threadIdx.x == 0) lse[n] = l;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    const int32_t i = idx[n * K + k];
    logp[n * K + k] = i >= 0 ? x[i] - l : S(0);
  }
}

template <class S>
__global__ void logprob_backward_kernel(S* dlogits, const S* dlogp, const S* logits, const S* lse,
                                        const int32_t* idx, int V, int K, bool accumulate) {
  const long n = blockIdx.x;
  const S* x = logits + n * V;
  S* d = dlogits + n * V;
  S total = 0;  // K is small (1 or 2): every thread sums it itself
  for (int k = 0; k < K; ++k)
    if (idx[n * K + k] >= 0) total += dlogp[n * K + k];
  const S l = lse[n];
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const S g = -total * dev_exp(x[v] - l);
    d[v] = accumulate ? d[v] + g : g;
  }
  __syncthreads();  // the gathered entries are added after every thread wrote its share
  if (threadIdx.x == 0)
    for (int k = 0; k < K; ++k) {
      const int32_t i = idx[n * K + k];
      if (i >= 0) d[i] += dlogp[n * K + k];
    }
}

struct LogProbKernels {
  // logits: [N,V]; idx: [N,K] (negative = ignored, logp 0); logp: [N,K]; lse: [N].
  template <class S>
  static void logprob_forward(S* logp, S* lse, const S* logits, const int32_t* idx, int N, int V,
                              int K) {
    if (N <= 0) return;
    GFNLM_CUDA_LAUNCH(logprob_forward_kernel<S>, static_cast<unsigned>(N), kRowThreads, 0, logp,
                      lse, logits, idx, V, K);
  }

  // dlogits (= or += when accumulate) from dlogp [N,K], using lse from the forward.
  template <class S>
  static void logprob_backward(S* dlogits, const S* dlogp, const S* logits, const S* lse,
                               const int32_t* idx, int N, int V, int K, bool accumulate = false) {
    if (N <= 0) return;
    GFNLM_CUDA_LAUNCH(logprob_backward_kernel<S>, static_cast<unsigned>(N), kRowThreads, 0, dlogits,
                      dlogp, logits, lse, idx, V, K, accumulate);
  }
};

}  // namespace gfnlm::cuda
