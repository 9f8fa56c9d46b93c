#pragma once
// ParameterOptimizer: everything a trainer that does not own the parameters (the Sampler) does to
// them - zero the gradients, clip their global norm, step AdamW, and copy values to and from the
// host for a checkpoint - as one type, so all of it runs where the parameters live. The host
// version is HostOptimizer; for a backend whose memory is not the host's, its model-layer header
// specialises BackendOptimizerOf (Cuda: model/cuda/optimizer.cuh, included from .cu files), and
// a model's policy picks it with BackendOptimizer<Backend>. So no code above names a device.
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/parameter.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <istream>
#include <ostream>
#include <type_traits>

namespace gfnlm {

template <class O>
concept ParameterOptimizer = std::copy_constructible<O> && std::is_move_assignable_v<O> &&
    requires(O o, const O co, const ParameterList<float>& params, const AdamWConfig& config,
             double x, std::ostream& os, std::istream& is, float* p, const float* cp,
             std::size_t n) {
  O(params, config);
  o.step(x);  // x: learning-rate scale
  co.save(os);
  o.load(is);  // the format save() writes (model/adamw.hpp's, whatever the memory)
  O::zero_grad(params);
  { O::clip_grad_norm(params, x) } -> std::convertible_to<double>;
  O::to_host(p, cp, n);    // host <- parameter memory
  O::from_host(p, cp, n);  // parameter memory <- host
};

// Parameters in host memory: model/adamw.hpp and model/parameter.hpp as they are.
struct HostOptimizer : AdamW<float> {
  using AdamW<float>::AdamW;

  static void zero_grad(const ParameterList<float>& params) { gfnlm::zero_grad(params); }
  static double clip_grad_norm(const ParameterList<float>& params, double max_norm) {
    return gfnlm::clip_grad_norm(params, max_norm);
  }
  static void to_host(float* dst, const float* src, std::size_t n) { std::copy_n(src, n, dst); }
  static void from_host(float* dst, const float* src, std::size_t n) { std::copy_n(src, n, dst); }
};

static_assert(ParameterOptimizer<HostOptimizer>);

namespace detail {
template <class Bk>
struct BackendOptimizerOf {
  static_assert(Bk::host_memory,
                "parameters outside host memory need their backend's optimiser: include "
                "its header (Cuda: <gfnlm/model/cuda/optimizer.cuh>)");
  using type = HostOptimizer;
};
}  // namespace detail

// The optimiser for parameters allocated by backend Bk: the host's for host memory, else the
// specialisation of BackendOptimizerOf in the backend's model-layer header.
template <class Bk>
using BackendOptimizer = typename detail::BackendOptimizerOf<Bk>::type;

}  // namespace gfnlm
