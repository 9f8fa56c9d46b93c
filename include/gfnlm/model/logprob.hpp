#pragma once
// Gathered log-probabilities from logits: log p(idx[n,k]) for K indices per position, and the
// way back from d logp to d logits. The GFlowNet objectives need the chosen token and the stop
// token at every state (SPEC section 2); the work is the backend's logprob kernels, this header
// gives them a model-level name and checks the shapes.
#include <gfnlm/backend/concept.hpp>
#include <gfnlm/core/error.hpp>

#include <cstdint>

namespace gfnlm {

// logits: [N, V]; idx: [N, K] (negative = ignored, its logp is 0); writes logp [N, K] and the
// log-normaliser lse [N] that backward needs. All pointers in the backend's memory.
template <class Bk, class S>
void gather_log_probs(const S* logits, const int32_t* idx, int N, int V, int K, S* logp, S* lse) {
  GFNLM_CHECK(N >= 0 && V > 0 && K > 0, "gather_log_probs: N={} V={} K={}", N, V, K);
  Bk::logprob_forward(logp, lse, logits, idx, N, V, K);
}

// dlogits (=, or += when accumulate) given d loss / d logp [N, K] of gather_log_probs.
template <class Bk, class S>
void gather_log_probs_backward(S* dlogits, const S* dlogp, const S* logits, const S* lse,
                               const int32_t* idx, int N, int V, int K, bool accumulate = false) {
  GFNLM_CHECK(N >= 0 && V > 0 && K > 0, "gather_log_probs_backward: N={} V={} K={}", N, V, K);
  Bk::logprob_backward(dlogits, dlogp, logits, lse, idx, N, V, K, accumulate);
}

}  // namespace gfnlm
