#pragma once
// Drawing the next token of every row from its logits on the device, so a rollout copies N
// token ids to the host instead of N x V logits. Logits are divided by the row's temperature
// (exploration, SPEC section 4) and masked as LogitMask does (gfn/masks.hpp): tokens the
// vocabulary mask forbids, and STOP on rows where it is illegal (before min_len), get
// probability 0. The draw is the inverse CDF at a uniform the caller supplies per row, so the
// host RNG stays the single source of randomness and runs are reproducible across backends.
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>

#include <cstdint>
#include <type_traits>

namespace gfnlm::cuda {

constexpr int kSampleThreads = 256;

template <class S>
__device__ bool sample_allowed(int v, const uint8_t* vocab_mask, bool stop_banned, int32_t stop) {
  return (!vocab_mask || vocab_mask[v]) && !(stop_banned && v == stop);
}

// One block per row; thread j owns the contiguous chunk [j*chunk, (j+1)*chunk) of the vocabulary,
// so the CDF is found by a scan over chunk sums, then within one chunk.
template <class S>
__global__ void sample_kernel(int32_t* tokens, S* logq, const S* logits, int V,
                              const S* temperature, const uint8_t* vocab_mask,
                              const uint8_t* stop_banned, int32_t stop, const S* uniforms) {
  __shared__ S scratch[32];
  __shared__ S chunk_sum[kSampleThreads];
  const long n = blockIdx.x;
  const S* x = logits + n * V;
  const S inv_t = S(1) / temperature[n];
  const bool ban = stop_banned && stop_banned[n];
  const int chunk = (V + blockDim.x - 1) / blockDim.x;
  const int v0 = min(V, static_cast<int>(threadIdx.x) * chunk), v1 = min(V, v0 + chunk);
  S hi = neg_infinity<S>();
  for (int v = v0; v < v1; ++v)
    if (sample_allowed<S>(v, vocab_mask, ban, stop)) hi = x[v] * inv_t > hi ? x[v] * inv_t : hi;
  hi = block_max(hi, scratch);
  S sum = 0;
  for (int v = v0; v < v1; ++v)
    if (sample_allowed<S>(v, vocab_mask, ban, stop)) sum += dev_exp(x[v] * inv_t - hi);
  chunk_sum[threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.x != 0) return;
  if (!(hi > neg_infinity<S>())) {  // every token masked: no draw (LogitMask rules this out)
    tokens[n] = -1;
    if (logq) logq[n] = neg_infinity<S>();
    return;
  }
  S total = 0;
  for (int j = 0; j < static_cast<int>(blockDim.x); ++j) total += chunk_sum[j];
  const S target = uniforms[n] * total;
  S acc = 0;
  int chosen = -1;
  for (int j = 0; j < static_cast<int>(blockDim.x) && chosen < 0; ++j) {
    if (acc + chunk_sum[j] <= target && j + 1 < static_cast<int>(blockDim.x)) {
      acc += chunk_sum[j];
      continue;
    }
    const int w0 = min(V, j * chunk), w1 = min(V, w0 + chunk);
    for (int v = w0; v < w1; ++v) {
      if (!sample_allowed<S>(v, vocab_mask, ban, stop)) continue;
      chosen = v;  // the last allowed token so far: rounding can leave target just above acc
      acc += dev_exp(x[v] * inv_t - hi);
      if (acc > target) break;
    }
  }
  if (chosen < 0)  // rounding pushed the target past the final chunk's tokens: take the last one
    for (int v = V - 1; v >= 0 && chosen < 0; --v)
      if (sample_allowed<S>(v, vocab_mask, ban, stop)) chosen = v;
  tokens[n] = chosen;
  if (logq) logq[n] = x[chosen] * inv_t - hi - dev_log(total);
}

struct SamplingKernels {
  // tokens [N] (device) get one draw per row of logits [N,V]; logq [N] (nullable) its log-prob
  // under the tempered, masked distribution. temperature, uniforms (in [0,1)): [N]; vocab_mask:
  // [V] non-zero = allowed (nullable = all); stop_banned: [N] non-zero = STOP illegal on that row
  // (nullable). All pointers are device pointers.
  template <class S>
  static void sample_tokens(int32_t* tokens, std::type_identity_t<S>* logq, const S* logits, int N,
                            int V, const S* temperature, const uint8_t* vocab_mask,
                            const uint8_t* stop_banned, int32_t stop_token, const S* uniforms) {
    GFNLM_CHECK(V > 0 && stop_token >= 0 && stop_token < V,
                "sample_tokens: stop token {} outside the vocabulary [0, {})", stop_token, V);
    if (N <= 0) return;
    GFNLM_CUDA_LAUNCH(sample_kernel<S>, static_cast<unsigned>(N), kSampleThreads, 0, tokens, logq,
                      logits, V, temperature, vocab_mask, stop_banned, stop_token, uniforms);
  }
};

}  // namespace gfnlm::cuda
