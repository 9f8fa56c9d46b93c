#pragma once
// RowMask: which logits rows a gathered kernel reads and which of their entries count, as raw
// pointers in the backend's memory, so the fused log-softmax + gather and the categorical draw
// (backend/cpu/logprob.hpp, backend/cuda/logprob.cuh, backend/cuda/sampling.cuh) apply a policy's
// masks (gfn/masks.hpp: the vocabulary mask and the min-length STOP ban) without a masked copy of
// the logits. A masked entry has probability 0: its log-prob is -inf and it takes no gradient.
// The default (every pointer null) reads row n for item n with nothing masked.
#include <cstdint>

namespace gfnlm {

struct RowMask {
  const int32_t* rows = nullptr;         // [N] logits row of item n (null: row n)
  const uint8_t* allowed = nullptr;      // [V] non-zero = token allowed (null: all)
  const uint8_t* stop_banned = nullptr;  // [N] non-zero = STOP illegal for item n (null: never)
  int32_t stop = -1;                     // the stop token (needed with stop_banned)
};

}  // namespace gfnlm
