#pragma once
// The Policy concept: what the Sampler needs from a model of q(Z | X). The sampler owns the
// randomness, the masks, the log-softmax and the loss; a policy only turns states into logits
// and back-propagates d loss / d logits. Both the exact TabularPolicy and the transformer-backed
// LmPolicy model it, so every objective can be tested against an enumerable target.
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/optimizer.hpp>
#include <gfnlm/model/parameter.hpp>

#include <concepts>
#include <cstdint>
#include <span>

namespace gfnlm {

template <class P>
concept Policy = requires(P p, const P cp, std::span<const typename P::Query> row_queries,
                          std::span<const int32_t> tokens, std::span<float> logits,
                          const TrajectoryBatch& batch, Tensor<float, 3>& state_logits,
                          const Tensor<float, 3>& state_dlogits) {
  typename P::Query;
  // Width of every logits row; the stop token is one of these ids.
  { cp.vocab_size() } -> std::convertible_to<int>;
  { cp.stop_token() } -> std::convertible_to<int32_t>;
  // Rollouts: one row per entry of row_queries. next_logits fills [rows x vocab] for the
  // current state of every row (rows already finished may be left untouched); advance takes one
  // token per row, negative for a row that is finished; append_context adds tool output to one
  // row's state without making it an action.
  p.start_rollout(row_queries);
  p.next_logits(logits);
  p.advance(tokens);
  p.append_context(int{}, tokens);
  // Teacher forcing at temperature 1: logits at states s_0 .. s_L of every row of the batch
  // ([B, L+1, vocab]; entries past a row's length are unspecified), keeping what backward needs.
  p.score(row_queries, batch, state_logits);
  // Accumulates parameter gradients given d loss / d logits of the last score() call.
  p.backward(state_dlogits);
  { p.parameters() } -> std::convertible_to<ParameterList<float>>;
};

// Optional: a policy whose parameters() point outside host memory (LmPolicy over a device model)
// names the ParameterOptimizer that zeroes, clips, steps and checkpoints them as `P::Optimizer`
// (model/optimizer.hpp); the Sampler uses it, and HostOptimizer for every other policy.
namespace detail {
template <class P>
struct PolicyOptimizerOf {
  using type = HostOptimizer;
};
template <class P>
requires requires {
  typename P::Optimizer;
}
struct PolicyOptimizerOf<P> {
  static_assert(ParameterOptimizer<typename P::Optimizer>,
                "Policy::Optimizer must model gfnlm::ParameterOptimizer (model/optimizer.hpp)");
  using type = typename P::Optimizer;
};
}  // namespace detail

template <class P>
using PolicyOptimizer = typename detail::PolicyOptimizerOf<P>::type;

}  // namespace gfnlm
