#pragma once
// The Buffer concept: what the Sampler needs from a replay store (SPEC section 4). ReplayBuffer
// (gfn/replay_buffer.hpp) models it; a user may swap in another one (e.g. a buffer shared across
// processes) as the Sampler's fourth template argument.
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/replay_buffer.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <ostream>
#include <span>
#include <vector>

namespace gfnlm {

template <class B>
concept Buffer = std::constructible_from<B, ReplayBufferConfig> &&
    requires(B b, const B cb, uint64_t key, std::span<const int32_t> actions, double log_r,
             Rng& rng, std::ostream& os, std::istream& is) {
  // Offer a trajectory with its UNTEMPERED log R; true if stored.
  { b.add(key, actions, log_r) } -> std::convertible_to<bool>;
  { cb.empty(key) } -> std::convertible_to<bool>;
  { cb.total_size() } -> std::convertible_to<std::size_t>;
  // n draws with replacement; items expose .actions (a range of int32_t);
  // temperature re-tempers the stored rewards (the current T_R).
  {cb.sample(key, int{}, rng, double{})};
  cb.save(os);
  b.load(is);
};

}  // namespace gfnlm
