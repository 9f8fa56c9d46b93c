#pragma once
// A named, flat view of one trainable tensor and its gradient. Optimisers, gradient clipping and
// checkpoints work on lists of these, so they serve the transformer, LoRA adapters, a tabular
// policy and an objective's own log Z alike.
#include <cstddef>
#include <string>
#include <vector>

namespace gfnlm {

template <class Scalar>
struct ParameterView {
  std::string name;
  Scalar* value = nullptr;
  Scalar* grad = nullptr;
  std::size_t size = 0;
  bool weight_decay = true;  // LayerNorm gains, biases and log Z usually opt out
};

template <class Scalar>
using ParameterList = std::vector<ParameterView<Scalar>>;

template <class Scalar>
void zero_grad(const ParameterList<Scalar>& params) {
  for (const auto& p : params)
    for (std::size_t i = 0; i < p.size; ++i) p.grad[i] = Scalar(0);
}

}  // namespace gfnlm
