#pragma once
// The masked, tempered categorical draw of a rollout step on the device (the twin of
// backend/cpu/logprob.hpp's sample_tokens: the same signature and semantics), so a rollout copies
// N token ids and N log-probs to the host instead of N x V logits. Item n draws from
// softmax((masked logits row) / temperature[n]) by the inverse CDF at uniforms[n] in [0, 1)
// (core/rng.hpp's categorical_at: the first token whose running sum passes u x total, skipping
// zero weights, the last positive one if rounding leaves a sliver), and logq[n] is the drawn
// token's log-probability at temperature 1 under the masked distribution. The mask is the
// RowMask's (backend/row_mask.hpp): the logits row of each item, the vocabulary mask and the
// per-item STOP ban. The host RNG stays the single source of randomness.
//
// The weights, their normaliser and the CDF are computed in double from the same formula as the
// CPU kernel (w_v = exp((x_v - lse) / T - top)), so both backends draw the same token from the
// same uniform; they can differ only in a rounding tie, where u x total falls within a few ulps
// (~1e-15 relative) of a CDF boundary, because the sums run in a different order (here: one
// block per item, thread j summing its contiguous chunk of the vocabulary, then a scan over the
// chunks).
//
// An item with no allowed finite logit cannot be drawn: the device kernel cannot throw as the CPU
// one does, so it writes token -1 and log q NaN. All pointers, the RowMask's included, are device
// pointers.
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/logprob.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>
#include <gfnlm/backend/row_mask.hpp>

#include <climits>
#include <cstdint>

namespace gfnlm::cuda {

constexpr int kSampleThreads = 256;

// Exclusive prefix sum of v over the block (in thread order) and the block's total, for every
// thread. warp_totals: 32 entries of shared memory.
__device__ inline void block_exclusive_scan(double v, double* warp_totals, double& prefix,
                                            double& total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  double incl = v;
  for (int offset = 1; offset < 32; offset *= 2) {
    const double y = __shfl_up_sync(0xffffffffu, incl, offset);
    if (lane >= offset) incl += y;
  }
  double excl = __shfl_up_sync(0xffffffffu, incl, 1);
  if (lane == 0) excl = 0;
  __syncthreads();
  if (lane == 31) warp_totals[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    double t = lane < warps ? warp_totals[lane] : 0.0;
    for (int offset = 1; offset < 32; offset *= 2) {
      const double y = __shfl_up_sync(0xffffffffu, t, offset);
      if (lane >= offset) t += y;
    }
    if (lane < warps) warp_totals[lane] = t;  // now inclusive over warps
  }
  __syncthreads();
  prefix = (warp > 0 ? warp_totals[warp - 1] : 0.0) + excl;
  total = warp_totals[warps - 1];
}

template <class S>
__global__ void sample_kernel(int32_t* tokens, double* logq, const S* logits, int V,
                              const double* temperature, const double* uniforms, RowMask mask) {
  __shared__ MaxSum<double> scratch[32];
  __shared__ double warp_totals[32];
  __shared__ int chosen, last_positive;
  const long n = blockIdx.x;
  const long r = mask.rows ? mask.rows[n] : n;
  const S* x = logits + r * V;
  const bool ban = mask.stop_banned && mask.stop_banned[n];

  // The temperature-1 log-normaliser over the allowed entries, in double.
  MaxSum<double> acc{neg_infinity<double>(), 0.0};
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    if (!row_allowed(v, mask.allowed, ban, mask.stop)) continue;
    const double xv = static_cast<double>(x[v]);
    if (xv > acc.m) {
      acc.s = acc.s * exp(acc.m - xv) + 1.0;
      acc.m = xv;
    } else if (xv > neg_infinity<double>()) {
      acc.s += exp(xv - acc.m);
    } else if (xv != xv) {
      acc.m = xv;
    }
  }
  acc = block_max_sum(acc, scratch);
  const double lse = acc.m + log(acc.s);
  if (!isfinite(lse)) {  // block-uniform: every thread leaves here
    if (threadIdx.x == 0) {
      tokens[n] = -1;
      if (logq) logq[n] = static_cast<double>(NAN);
    }
    return;
  }
  const double inv_t = 1.0 / temperature[n];
  // max_v (x_v - lse) / T, exactly as the CPU's running max (rounding is monotone).
  const double top = (acc.m - lse) * inv_t;
  auto weight = [&](int v) {
    return row_allowed(v, mask.allowed, ban, mask.stop)
               ? exp((static_cast<double>(x[v]) - lse) * inv_t - top)
               : 0.0;
  };

  // Thread j's contiguous chunk of the vocabulary: its sum, then its place in the CDF.
  const int chunk = (V + blockDim.x - 1) / blockDim.x;
  const int v0 = min(V, static_cast<int>(threadIdx.x) * chunk), v1 = min(V, v0 + chunk);
  double sum = 0;
  for (int v = v0; v < v1; ++v) sum += weight(v);
  double prefix = 0, total = 0;
  block_exclusive_scan(sum, warp_totals, prefix, total);
  if (threadIdx.x == 0) chosen = INT_MAX, last_positive = -1;
  __syncthreads();
  if (sum > 0) {
    // What is left of u x total when the chunk starts; the first positive weight that takes it
    // below zero is the draw. A chunk past the target stops at its first positive weight, so the
    // smallest candidate is the CPU's token even where the crossing chunk's rounding left a sliver.
    double left = uniforms[n] * total - prefix;
    int last = -1, hit = -1;
    for (int v = v0; v < v1; ++v) {
      const double w = weight(v);
      if (w <= 0) continue;
      last = v;
      left -= w;
      if (left < 0) {
        hit = v;
        break;
      }
    }
    if (hit >= 0) atomicMin(&chosen, hit);
    atomicMax(&last_positive, last);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const int a = chosen != INT_MAX ? chosen : last_positive;
    tokens[n] = a;
    if (logq) logq[n] = static_cast<double>(x[a]) - lse;
  }
}

struct SamplingKernels {
  // One draw per item from softmax((masked logits row) / temperature[n]) at uniforms[n] in
  // [0, 1); tokens[n] the token, logq[n] (nullable) its log-probability at temperature 1 under
  // the masked distribution. tokens, logq, temperature, uniforms: [N].
  template <class S>
  static void sample_tokens(int32_t* tokens, double* logq, const S* logits, int N, int V,
                            const double* temperature, const double* uniforms,
                            const RowMask& mask = {}) {
    GFNLM_CHECK(V > 0, "sample_tokens: empty vocabulary");
    GFNLM_CHECK(!mask.stop_banned || (mask.stop >= 0 && mask.stop < V),
                "sample_tokens: stop token {} outside the vocabulary [0, {})", mask.stop, V);
    if (N <= 0) return;
    GFNLM_CUDA_LAUNCH(sample_kernel<S>, static_cast<unsigned>(N), kSampleThreads, 0, tokens, logq,
                      logits, V, temperature, uniforms, mask);
  }
};

}  // namespace gfnlm::cuda
