#pragma once
// Query keys: the replay buffer and the checkpoint file index queries by a uint64 key, and the
// trajectory batch by an int id (a learned per-query log Z reads it, gfn/objectives). Keys must be
// stable across processes, or a resumed run would replay another query's trajectories; that is why
// std::hash is never used by default (its value is not specified across library versions).
#include <gfnlm/core/hash.hpp>  // fnv1a64: stable everywhere, good enough to tell prompts apart

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace gfnlm {

// A query type chooses its key by a member key() -> uint64_t; integers and enums are their own
// key, strings hash with FNV-1a. Anything else: give the Sampler a key function.
template <class Q>
concept HasDefaultQueryKey = std::is_integral_v<Q> || std::is_enum_v<Q> ||
    std::convertible_to<const Q&, std::string_view> || requires(const Q& q) {
  { q.key() } -> std::convertible_to<uint64_t>;
};

template <HasDefaultQueryKey Q>
uint64_t default_query_key(const Q& q) {
  if constexpr (std::is_integral_v<Q> || std::is_enum_v<Q>)
    return static_cast<uint64_t>(q);
  else if constexpr (std::convertible_to<const Q&, std::string_view>)
    return fnv1a64(std::string_view(q));
  else
    return static_cast<uint64_t>(q.key());
}

// The int written to TrajectoryBatch::query: the key itself when it fits (integer queries 0..n-1
// index TrajectoryBalance's per-query log Z directly), else its low 31 bits.
inline int query_id_from_key(uint64_t key) {
  return static_cast<int>(key & 0x7fffffffULL);
}

}  // namespace gfnlm
