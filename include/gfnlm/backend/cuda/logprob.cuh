#pragma once
// The CUDA backend's one log-softmax: fused, masked, gathered (the device twin of
// backend/cpu/logprob.hpp, same argument lists and semantics). For each of N items, log p(idx[n,k])
// for K indices of the logits row the RowMask names (the chosen token's and the stop token's log q
// at every state, SPEC section 2; cross-entropy is K = 1), with masked entries at probability 0.
// The backward turns d logp into d logits without forming the log-softmax:
// dlogits_v = sum_k dlogp_k [v = idx_k] - softmax_v * sum_k dlogp_k.
//
// One block per item, as llm.c's fused_classifier: the forward is one pass over the row (an
// online max and sum per thread, merged across the block), the backward another; no probability
// buffer is ever formed. The mask is tested per entry (vocabulary byte and per-item STOP ban)
// instead of added as a row of 0 / -inf: the same result (x + 0 = x, x + -inf = -inf).
//
// Unlike the CPU kernel, the device one cannot throw: an item whose allowed logits are all -inf
// (or not finite) gets lse = -inf or NaN and logp -inf / NaN, which the caller's loss surfaces.
// All pointers, the RowMask's included, are device pointers. In the backward the items' rows must
// be distinct (as the CPU kernel, which writes them in parallel, also needs).
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>
#include <gfnlm/backend/row_mask.hpp>

#include <cstdint>

namespace gfnlm::cuda {

constexpr int kRowThreads = 256;

// Whether entry v of item n's row counts: allowed by the vocabulary mask, and not the stop token
// where the item bans STOP.
__device__ inline bool row_allowed(int v, const uint8_t* allowed, bool stop_banned, int32_t stop) {
  return (!allowed || allowed[v]) && !(stop_banned && v == stop);
}

// Online log-sum-exp state: the running max m and sum s of exp(x - m).
template <class S>
struct MaxSum {
  S m, s;
};

template <class S>
__device__ MaxSum<S> merge(MaxSum<S> a, MaxSum<S> b) {
  if (a.m != a.m) return a;  // NaN poisons the row, as it does the CPU's sum
  const S m = a.m > b.m ? a.m : b.m;
  if (!(m > neg_infinity<S>())) return {m, S(0)};  // both empty, or b is NaN
  return {m, a.s * dev_exp(a.m - m) + b.s * dev_exp(b.m - m)};
}

// The block-wide merge; every thread gets the result. scratch: 32 entries of shared memory.
template <class S>
__device__ MaxSum<S> block_max_sum(MaxSum<S> v, MaxSum<S>* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  for (int offset = 16; offset > 0; offset /= 2)
    v = merge(v, MaxSum<S>{__shfl_xor_sync(0xffffffffu, v.m, offset),
                           __shfl_xor_sync(0xffffffffu, v.s, offset)});
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : MaxSum<S>{neg_infinity<S>(), S(0)};
  for (int offset = 16; offset > 0; offset /= 2)
    v = merge(v, MaxSum<S>{__shfl_xor_sync(0xffffffffu, v.m, offset),
                           __shfl_xor_sync(0xffffffffu, v.s, offset)});
  return v;
}

// log sum_v exp(x_v) over the allowed entries of one row, by the whole block (every thread gets
// it): -inf when none is allowed or finite.
template <class S>
__device__ S row_logsumexp(const S* x, int V, const uint8_t* allowed, bool ban, int32_t stop,
                           MaxSum<S>* scratch) {
  MaxSum<S> acc{neg_infinity<S>(), S(0)};
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    if (!row_allowed(v, allowed, ban, stop)) continue;
    const S xv = x[v];
    if (xv > acc.m) {
      acc.s = acc.s * dev_exp(acc.m - xv) + S(1);
      acc.m = xv;
    } else if (xv > neg_infinity<S>()) {
      acc.s += dev_exp(xv - acc.m);
    } else if (xv != xv) {  // NaN: poison the row, as the CPU's sum would
      acc.m = xv;
    }
  }
  acc = block_max_sum(acc, scratch);
  return acc.m + dev_log(acc.s);  // -inf + log 0 = -inf; NaN stays NaN
}

template <class S>
__global__ void logprob_forward_kernel(S* logp, S* lse, const S* logits, const int32_t* idx, int V,
                                       int K, RowMask mask) {
  __shared__ MaxSum<S> scratch[32];
  const long n = blockIdx.x;
  const long r = mask.rows ? mask.rows[n] : n;
  const S* x = logits + r * V;
  const bool ban = mask.stop_banned && mask.stop_banned[n];
  const S l = row_logsumexp(x, V, mask.allowed, ban, mask.stop, scratch);
  if (threadIdx.x == 0) lse[n] = l;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    const int32_t i = idx[n * K + k];
    S v = S(0);
    if (i >= 0) v = row_allowed(i, mask.allowed, ban, mask.stop) ? x[i] - l : neg_infinity<S>();
    logp[n * K + k] = v;
  }
}

template <class S>
__global__ void logprob_backward_kernel(S* dlogits, const S* dlogp, const S* logits, const S* lse,
                                        const int32_t* idx, int V, int K, bool accumulate,
                                        RowMask mask) {
  const long n = blockIdx.x;
  const long r = mask.rows ? mask.rows[n] : n;
  const S* x = logits + r * V;
  S* d = dlogits + r * V;  // may be x itself: each entry is read before it is written
  const bool ban = mask.stop_banned && mask.stop_banned[n];
  S total = 0;  // K is small (1 or 2): every thread sums it itself
  for (int k = 0; k < K; ++k) {
    const int32_t i = idx[n * K + k];
    if (i >= 0 && row_allowed(i, mask.allowed, ban, mask.stop)) total += dlogp[n * K + k];
  }
  const S l = lse[n];
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const S g = row_allowed(v, mask.allowed, ban, mask.stop) ? -total * dev_exp(x[v] - l) : S(0);
    d[v] = accumulate ? d[v] + g : g;
  }
  __syncthreads();  // the gathered entries are added after every thread wrote its share
  if (threadIdx.x == 0)
    for (int k = 0; k < K; ++k) {
      const int32_t i = idx[n * K + k];
      if (i >= 0 && row_allowed(i, mask.allowed, ban, mask.stop)) d[i] += dlogp[n * K + k];
    }
}

struct LogProbKernels {
  // logits: rows of V; idx: [N,K] (negative = ignored, logp 0); logp: [N,K] (-inf for a masked
  // index); lse: [N], the log-normaliser over the allowed entries.
  template <class S>
  static void logprob_forward(S* logp, S* lse, const S* logits, const int32_t* idx, int N, int V,
                              int K, const RowMask& mask = {}) {
    GFNLM_CHECK(!mask.stop_banned || (mask.stop >= 0 && mask.stop < V),
                "logprob_forward: stop token {} outside the vocabulary [0, {})", mask.stop, V);
    if (N <= 0) return;
    GFNLM_CUDA_LAUNCH(logprob_forward_kernel<S>, static_cast<unsigned>(N), kRowThreads, 0, logp,
                      lse, logits, idx, V, K, mask);
  }

  // dlogits rows (the same rows the mask names; = or += when accumulate) from dlogp [N,K], using
  // lse from the forward. dlogits may be the logits buffer itself. A masked index takes no
  // gradient.
  template <class S>
  static void logprob_backward(S* dlogits, const S* dlogp, const S* logits, const S* lse,
                               const int32_t* idx, int N, int V, int K, bool accumulate = false,
                               const RowMask& mask = {}) {
    GFNLM_CHECK(!mask.stop_banned || (mask.stop >= 0 && mask.stop < V),
                "logprob_backward: stop token {} outside the vocabulary [0, {})", mask.stop, V);
    if (N <= 0) return;
    GFNLM_CUDA_LAUNCH(logprob_backward_kernel<S>, static_cast<unsigned>(N), kRowThreads, 0, dlogits,
                      dlogp, logits, lse, idx, V, K, accumulate, mask);
  }
};

}  // namespace gfnlm::cuda
