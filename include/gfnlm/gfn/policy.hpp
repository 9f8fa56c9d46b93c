#pragma once
// The Policy concept: what the Sampler, the rollout engine (gfn/rollout.hpp) and the baselines
// need from a model of q(Z | X). Only tokens, gathered log-probabilities and their gradients
// cross it, never a vocabulary-wide row: the policy applies the masks (gfn/masks.hpp) and the
// log-softmax on its own backend, draws each row's next token there from a uniform the caller
// supplies (so every backend draws the same tokens from the same seed), and turns
// d loss / d log q into parameter gradients. The caller owns the randomness, the loss and the
// optimiser. Both the exact TabularPolicy and the transformer-backed LmPolicy model it, so every
// objective can be tested against an enumerable target.
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/optimizer.hpp>
#include <gfnlm/model/parameter.hpp>

#include <concepts>
#include <cstdint>
#include <span>

namespace gfnlm {

// One step of a batched rollout: every live row draws its next token.
struct DrawStep {
  int length = 0;                       // actions each live row has taken (the mask's state)
  std::span<const uint8_t> live;        // [rows] non-zero: the row draws at this step
  std::span<const double> temperature;  // [rows] behaviour temperature: softmax(logits / T)
  std::span<const double> uniform;      // [rows] in [0, 1), the caller's randomness
  // [rows] each row's last action (-1 at the root); the rollout engine fills it, for masks that
  // allow STOP only after some tokens (LogitMask::stop_after). Empty: -1 for every row.
  std::span<const int32_t> last_action = {};

  int32_t last(std::size_t row) const { return last_action.empty() ? -1 : last_action[row]; }
  // STOP is illegal for this row at this step.
  bool bans_stop(const LogitMask& mask, std::size_t row) const {
    return mask.bans_stop(length, last(row));
  }
};

template <class P>
concept Policy = requires(P p, const P cp, std::span<const typename P::Query> row_queries,
                          std::span<const int32_t> tokens, const LogitMask& mask,
                          const DrawStep& step, std::span<int32_t> drawn,
                          std::span<double> drawn_log_q, TrajectoryBatch& batch,
                          const TrajectoryGrad& grad) {
  typename P::Query;
  // The vocabulary size; the stop token is one of its ids.
  { cp.vocab_size() } -> std::convertible_to<int>;
  { cp.stop_token() } -> std::convertible_to<int32_t>;
  // Rollouts: one row per entry of row_queries. draw() samples the next token of every live row
  // from softmax(masked logits / temperature) at the row's uniform (core/rng.hpp's
  // categorical_at) into drawn (-1 for rows not live) and its temperature-1 masked log q into
  // drawn_log_q; advance takes one token per row, negative for a row that takes none;
  // append_context adds tool output to one row's state without making it an action.
  p.start_rollout(row_queries);
  p.draw(mask, step, drawn, drawn_log_q);
  p.advance(tokens);
  p.append_context(int{}, tokens);
  // Teacher forcing at temperature 1 with the masks: fills batch.log_pf [B, L] and
  // batch.log_stop [B, L+1] at the states s_0 .. s_length[b] of every row from its actions and
  // tool context (entries past a row's length are unspecified), keeping what backward needs.
  p.score(row_queries, mask, batch);
  // Accumulates scale x d loss / d parameters given d loss / d log_pf and d loss / d log_stop of
  // the last score() (entries past a row's length, and log_stop at the end of a row that did not
  // stop, are ignored).
  p.backward(grad, double{});
  { p.parameters() } -> std::convertible_to<ParameterList<float>>;
};

// Optional, for decoding (baselines/beam_search.hpp, and the rollout engine's top-k / nucleus
// draws, gfn/rollout.hpp). top_tokens: every live row's k most likely next tokens under the
// masks, best first (ties: lower id), into tokens [rows, k], with their log-probabilities at
// temperature 1 into log_q [rows, k] and at the row's step.temperature into log_q_tempered
// [rows, k] (entries past a row's allowed count: token -1, log-prob -inf; rows not live: -1 and
// -inf throughout; step.uniform is not read). It may be called several times at one step.
// reorder_rows: row r continues from the state row parents[r] had (beam search keeps the best
// extensions of its beams), parents[r] == r leaving it; call it between a step's top_tokens and
// its advance.
template <class P>
concept DecodablePolicy = Policy<P> &&
    requires(P p, const LogitMask& mask, const DrawStep& step, int k, std::span<int32_t> tokens,
             std::span<double> log_q, std::span<const int32_t> parents) {
  p.top_tokens(mask, step, k, tokens, log_q, log_q);
  p.reorder_rows(parents);
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
