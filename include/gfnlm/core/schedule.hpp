#pragma once
// Step-indexed schedules: the reward-temperature anneal (SPEC section 3) and the learning-rate
// warm-up / decay (SPEC section 4).
#include <algorithm>

namespace gfnlm {

// Linear from `start` to `end` over `steps` steps, constant afterwards.
struct LinearSchedule {
  double start = 1.0;
  double end = 1.0;
  int steps = 0;

  double operator()(int step) const {
    if (steps <= 0 || step >= steps) return end;
    const double frac = static_cast<double>(std::max(step, 0)) / steps;
    return start + (end - start) * frac;
  }
};

// Multiplier on the base learning rate: linear warm-up over `warmup` steps, then linear decay
// to `final_fraction` at `total` steps (constant if total <= warmup).
struct WarmupDecay {
  int warmup = 0;
  int total = 0;
  double final_fraction = 1.0;

  double operator()(int step) const {
    if (warmup > 0 && step < warmup) return static_cast<double>(step + 1) / warmup;
    if (total <= warmup) return 1.0;
    const double frac = std::clamp(static_cast<double>(step - warmup) / (total - warmup), 0.0, 1.0);
    return 1.0 + (final_fraction - 1.0) * frac;
  }
};

}  // namespace gfnlm
