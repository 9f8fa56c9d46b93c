#pragma once
// The Tool hook (SPEC section 5): after each action of a rollout, a tool may append tokens to the
// state (a calculator's " <value>" after "="). They are context for the policy and the reward,
// recorded in TrajectoryBatch::context, never actions, never scored by q. A tool must be a
// deterministic function of (query, actions so far): replayed buffer items get their context
// back by calling it again, so a re-scored trajectory sees exactly the state it was sampled in.
#include <gfnlm/gfn/trajectory.hpp>

#include <concepts>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace gfnlm {

template <class T, class Q>
concept Tool = requires(T& tool, const Q& q, std::span<const int32_t> actions_so_far) {
  { tool(q, actions_so_far) } -> std::convertible_to<std::vector<int32_t>>;
};

// The type-erased form the Sampler stores; empty = no tool (the default).
template <class Q>
using ToolFunction = std::function<std::vector<int32_t>(const Q&, std::span<const int32_t>)>;

// The context a tool inserts along a whole action sequence, as a rollout would have recorded it.
template <class Q>
std::vector<ContextInsert> replay_tool(const ToolFunction<Q>& tool, const Q& query,
                                       std::span<const int32_t> actions) {
  std::vector<ContextInsert> context;
  if (!tool) return context;
  for (std::size_t t = 1; t <= actions.size(); ++t) {
    auto tokens = tool(query, actions.first(t));
    if (!tokens.empty()) context.push_back({static_cast<int>(t), std::move(tokens)});
  }
  return context;
}

}  // namespace gfnlm
