#pragma once
// Mean next-token cross-entropy over a model's logits, for pretraining (MLE) and SFT: the same
// for every architecture, so the models hold one of these beside their activations. Positions
// whose target is < 0, or whose mask is 0, do not count. Host scratch and the device copy of the
// targets grow to the largest batch seen and are then reused (no allocation per step).
#include <gfnlm/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gfnlm {

template <class Bk, class S>
class CrossEntropy {
 public:
  // logits [N, V]; logp, lse: [N] activation slots that backward() reads again.
  double forward(const S* logits, S* logp, S* lse, const int32_t* targets, const uint8_t* mask,
                 int N, int V) {
    idx_.assign(targets, targets + N);
    count_ = 0;
    for (int i = 0; i < N; ++i) {
      if (mask && !mask[i]) idx_[i] = -1;
      GFNLM_CHECK(idx_[i] < V, "cross_entropy: target {} at index {} >= vocab {}", idx_[i], i, V);
      if (idx_[i] >= 0)
        ++count_;
      else
        idx_[i] = -1;
    }
    if (Bk::size(targets_) < static_cast<std::size_t>(N))
      targets_ = Bk::template alloc<int32_t>(static_cast<std::size_t>(N));
    Bk::from_host(Bk::data(targets_), idx_.data(), static_cast<std::size_t>(N));
    Bk::logprob_forward(logp, lse, logits, Bk::data(targets_), N, V, 1);
    if (count_ == 0) return 0.0;
    host_.resize(N);
    Bk::to_host(host_.data(), logp, static_cast<std::size_t>(N));
    double sum = 0;
    for (int i = 0; i < N; ++i)
      if (idx_[i] >= 0) sum -= host_[i];
    return sum / count_;
  }

  // d logits of the last forward()'s mean, into dlogits [N, V]. The gradient of each counted
  // log-prob goes into the logp slot, which forward()'s caller has already consumed.
  void backward(S* dlogits, S* logp, const S* logits, const S* lse, int N, int V) {
    host_.assign(N, count_ > 0 ? S(-1.0 / count_) : S(0));
    Bk::from_host(logp, host_.data(), static_cast<std::size_t>(N));
    Bk::logprob_backward(dlogits, logp, logits, lse, Bk::data(targets_), N, V, 1, false);
  }

 private:
  long count_ = 0;
  std::vector<int32_t> idx_;
  std::vector<S> host_;
  typename Bk::template Buffer<int32_t> targets_;
};

}  // namespace gfnlm
