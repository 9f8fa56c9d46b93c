#pragma once
// Rotary position embeddings as llama2.c applies them: within each head of size hs, the pair
// (2i, 2i+1) is rotated by angle pos * theta^(-2i/hs). Backward is the rotation by -angle (the
// map is orthogonal), done in place on the gradient. The angle is formed in double so float and
// double models see the same rotation. Part of the LlamaBackend concept (concept.hpp).
#include <cmath>
#include <cstdint>

namespace gfnlm::cpu {

struct RopeKernels {
  // x: [N, n_heads * hs] in place; positions: [N].
  template <class S>
  static void rope_forward(S* x, const int32_t* positions, int N, int n_heads, int hs,
                           double theta) {
    rotate(x, positions, N, n_heads, hs, theta, 1.0);
  }
  // dx: [N, n_heads * hs] in place: d pre-rotation from d post-rotation.
  template <class S>
  static void rope_backward(S* dx, const int32_t* positions, int N, int n_heads, int hs,
                            double theta) {
    rotate(dx, positions, N, n_heads, hs, theta, -1.0);
  }

 private:
  template <class S>
  static void rotate(S* x, const int32_t* positions, int N, int n_heads, int hs, double theta,
                     double sign) {
    const long width = static_cast<long>(n_heads) * hs;
#pragma omp parallel for if (N * width > 65536)
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < hs; i += 2) {
        const double angle = positions[n] * std::pow(theta, -static_cast<double>(i) / hs);
        const S c = static_cast<S>(std::cos(angle)), s = static_cast<S>(sign * std::sin(angle));
        for (int h = 0; h < n_heads; ++h) {
          S* v = x + n * width + static_cast<long>(h) * hs + i;
          const S a = v[0], b = v[1];
          v[0] = a * c - b * s;
          v[1] = a * s + b * c;
        }
      }
  }
};

}  // namespace gfnlm::cpu
