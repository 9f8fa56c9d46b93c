#pragma once
// LoRA adapters for the four projections of a GPT-2 block (lora_adapters.hpp has the scheme).
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/lora_adapters.hpp>

#include <fmt/format.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace gfnlm {

// The four adaptable projections in block order (qkv, attn_proj, fc, fc_proj); the LoraTargets
// bit of projection t is 1 << t.
inline constexpr int kNumProj = 4;

// (in, out) features of projection t.
inline std::array<int, 2> proj_dims(const TransformerConfig& c, int t) {
  const int C = c.d_model;
  switch (t) {
    case 0:
      return {C, 3 * C};
    case 1:
      return {C, C};
    case 2:
      return {C, 4 * C};
    default:
      return {4 * C, C};
  }
}

inline const char* proj_name(int t) {
  static constexpr const char* names[] = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
  return names[t];
}

struct Gpt2LoraLayout {
  using Config = TransformerConfig;
  static constexpr int kNumProj = gfnlm::kNumProj;
  static constexpr uint32_t kMagic = 0x41524f4c;  // "LORA"
  static constexpr const char* kStream = "lora";
  static std::array<int, 2> dims(const Config& c, int t) { return proj_dims(c, t); }
  static bool targeted(uint32_t targets, int t) { return (targets >> t) & 1u; }
  // "h.3.attn.c_attn"
  static std::string name(int layer, int t) { return fmt::format("h.{}.{}", layer, proj_name(t)); }
  static std::vector<std::pair<const char*, int>> shape(const Config& c) {
    return {{"n_layer", c.n_layer}, {"d_model", c.d_model}};
  }
};

template <class Bk, class S>
using LoraAdapters = BasicLoraAdapters<Bk, S, Gpt2LoraLayout>;

}  // namespace gfnlm
