#pragma once
// The Reward concept family: how the sampler asks for log R(z_1:t STOP | query) (SPEC sections
// 2-3). The stop-flow objectives need log R at EVERY prefix of a trajectory, so the sampler always
// asks for all of them; a reward picks the cheapest form it can offer:
//
//   BatchPrefixReward  r.prefix_log_rewards_batch(std::span<const RewardRequest<Q>>)
//                      every row of a training step in one call (an LM reward batches the rows
//                      into one forward pass);
//   PrefixReward       r.prefix_log_rewards(q, actions, out)   all prefixes of one row at once;
//   ContextReward      r(q, actions, context) -> double        sees tool output (SPEC section 5);
//   Reward             r(q, actions) -> double                 log R(actions STOP); a plain lambda.
//
// Values are UNTEMPERED natural-log rewards; the sampler tempers them (SPEC section 3). -inf means
// zero reward and is allowed; NaN is an error the sampler reports with the query and tokens.
#include <gfnlm/gfn/trajectory.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

template <class R, class Q>
concept Reward = requires(R& r, const Q& q, std::span<const int32_t> actions) {
  { r(q, actions) } -> std::convertible_to<double>;
};

// A reward that also reads the tool output inserted so far (inserts with after_action <= the
// prefix length, in order), e.g. an LM likelihood over "question, rationale with calculator
// results".
template <class R, class Q>
concept ContextReward = requires(R& r, const Q& q, std::span<const int32_t> actions,
                                 std::span<const ContextInsert> context) {
  { r(q, actions, context) } -> std::convertible_to<double>;
};

// Fills out[t] = log R(actions[0:t] STOP) for t = 0 .. actions.size() (out.size() == size + 1).
template <class R, class Q>
concept PrefixReward = requires(R& r, const Q& q, std::span<const int32_t> actions,
                                std::span<double> out) {
  r.prefix_log_rewards(q, actions, out);
};

// One row of a batched reward call: fill out[t] for t = 0 .. actions.size().
template <class Q>
struct RewardRequest {
  const Q* query = nullptr;
  std::span<const int32_t> actions;
  std::span<const ContextInsert> context;  // tool output of the whole row (filter by after_action)
  std::span<double> out;                   // size actions.size() + 1
};

template <class R, class Q>
concept BatchPrefixReward = requires(R& r, std::span<const RewardRequest<Q>> rows) {
  r.prefix_log_rewards_batch(rows);
};

// Anything the sampler can get prefix rewards from.
template <class R, class Q>
concept AnyReward =
    Reward<R, Q> || ContextReward<R, Q> || PrefixReward<R, Q> || BatchPrefixReward<R, Q>;

// The inserts visible at a prefix of `length` actions (they are stored in order).
inline std::span<const ContextInsert> context_at(std::span<const ContextInsert> context,
                                                 int length) {
  std::size_t n = 0;
  while (n < context.size() && context[n].after_action <= length) ++n;
  return context.first(n);
}

// Fills every request's out[] with the richest form the reward offers (see the header comment).
// final_only: only out[actions.size()] is needed (sampling, seeding the buffer); a plain reward is
// then called once per row instead of once per prefix, and the other entries are left as they are.
template <class Q, class R>
requires AnyReward<R, Q>
void compute_prefix_log_rewards(R& reward, std::span<const RewardRequest<Q>> rows,
                                bool final_only = false) {
  if constexpr (BatchPrefixReward<R, Q>) {
    reward.prefix_log_rewards_batch(rows);
  } else {
    for (const auto& row : rows) {
      if constexpr (PrefixReward<R, Q>) {
        reward.prefix_log_rewards(*row.query, row.actions, row.out);
      } else {
        for (std::size_t t = final_only ? row.actions.size() : 0; t <= row.actions.size(); ++t) {
          const auto prefix = row.actions.first(t);
          if constexpr (ContextReward<R, Q>)
            row.out[t] = static_cast<double>(
                reward(*row.query, prefix, context_at(row.context, static_cast<int>(t))));
          else
            row.out[t] = static_cast<double>(reward(*row.query, prefix));
        }
      }
    }
  }
}

}  // namespace gfnlm
