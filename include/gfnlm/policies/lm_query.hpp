#pragma once
// A query for a language-model policy: the prompt X the policy conditions on, and what a reward
// may need besides (the answer Y of a chain-of-thought task, an infill's right context).
#include <gfnlm/gfn/query_key.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace gfnlm {

struct LmQuery {
  std::vector<int32_t> prompt;  // X: conditioning tokens, never actions
  std::vector<int32_t> suffix;  // Y: tokens a likelihood reward scores after Z (may be empty)
  int64_t id = -1;              // stable small id (per-query log Z, replay buffer); -1: hash X, Y

  uint64_t key() const {
    if (id >= 0) return static_cast<uint64_t>(id);
    // Hash the token bytes: stable across processes, unlike std::hash.
    const auto bytes = [](const std::vector<int32_t>& v) {
      return std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t));
    };
    return fnv1a64(bytes(prompt)) * 31 + fnv1a64(bytes(suffix));
  }
};

// Any query type works with LmPolicy if it exposes its prompt tokens as `prompt`.
template <class Q>
concept PromptedQuery = requires(const Q& q) {
  { q.prompt.data() } -> std::convertible_to<const int32_t*>;
  { q.prompt.size() } -> std::convertible_to<std::size_t>;
};

}  // namespace gfnlm
