#pragma once
// A GPT-2 Transformer's LoRA adapters saved apart from the base in the layout Hugging Face PEFT
// uses (issue 4), through io/peft.hpp:
//   adapter_config.json         peft_type LORA, r, lora_alpha, target_modules, fan_in_fan_out
//   adapter_model.safetensors   base_model.model.transformer.h.N.<module>.lora_A.weight [r, in]
//                               base_model.model.transformer.h.N.<module>.lora_B.weight [out, r]
// <module> is attn.c_attn, attn.c_proj, mlp.c_fc or mlp.c_proj. GPT-2's projections are Conv1D
// (weights stored [in, out]), which PEFT marks fan_in_fan_out = true; that flag only transposes
// the merged delta (B A)^T against the stored base weight. PEFT's lora_A / lora_B are nn.Linear
// on the activations for Conv1D too, so A is [r, in] and B is [out, r] exactly as in
// model/lora.hpp and the values copy over untransposed; the update is scaled by lora_alpha / r
// as ours (rsLoRA, DoRA and adapter biases are rejected). target_modules are written as
// "attn.c_proj" / "mlp.c_proj" rather than "c_proj", which PEFT would match in both places.
// LlamaTransformer's adapters go the same way ("base_model.model.model.layers.N.self_attn.q_proj
// .lora_A.weight", fan_in_fan_out false); as for the base weights (io/llama_safetensors.hpp),
// the rows of q_proj's and k_proj's lora_B are in HF's rotate_half order in the file.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/io/llama_safetensors.hpp>
#include <gfnlm/io/peft.hpp>
#include <gfnlm/model/llama.hpp>
#include <gfnlm/model/llama_lora.hpp>
#include <gfnlm/model/lora.hpp>
#include <gfnlm/model/transformer.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gfnlm {

namespace detail {

// What differs between the architectures' PEFT files: module paths, fan_in_fan_out, the names in
// target_modules, and (Llama) the row order of q/k's B.
struct Gpt2Peft {
  using Layout = Gpt2LoraLayout;
  static constexpr const char* kModel = "GPT-2";
  static constexpr const char* kModules =
      "transformer.h.<0..{}>.attn.c_attn|attn.c_proj|mlp.c_fc|mlp.c_proj";
  static constexpr bool kFanInFanOut = true;
  // "transformer.h.3.attn.c_attn" (or "h.3.attn.c_attn") -> our "h.3.attn.c_attn"
  static std::string_view layout_name(std::string_view module) {
    if (module.starts_with("transformer.")) module.remove_prefix(12);
    return module;
  }
  static std::string module(const std::string& layout_name) { return "transformer." + layout_name; }
  static std::string target_module(int t) { return proj_name(t); }
  static void b_rows(const TransformerConfig&, int, const float* src, float* dst, int r, int out,
                     bool /*to_hf*/) {
    std::copy(src, src + static_cast<std::size_t>(r) * out, dst);
  }
};

struct LlamaPeft {
  using Layout = LlamaLoraLayout;
  static constexpr const char* kModel = "Llama";
  static constexpr const char* kModules = "model.layers.<0..{}>.self_attn.q_proj etc.";
  static constexpr bool kFanInFanOut = false;
  static std::string_view layout_name(std::string_view module) { return module; }
  static std::string module(const std::string& layout_name) { return layout_name; }
  // "self_attn.q_proj" -> "q_proj", as PEFT configs name Llama targets.
  static std::string target_module(int t) {
    const std::string_view name = llama::proj_name(t);
    return std::string(name.substr(name.find('.') + 1));
  }
  // q/k's B rows between our interleaved RoPE order and HF's rotate_half order.
  static void b_rows(const LlamaConfig& c, int t, const float* src, float* dst, int r, int out,
                     bool to_hf) {
    if (t != llama::wq && t != llama::wk) {
      std::copy(src, src + static_cast<std::size_t>(r) * out, dst);
      return;
    }
    const int heads = t == llama::wq ? c.n_head : c.n_kv_head;
    if (to_hf)
      llama_permute_rows(src, heads, c.head_size(), r, dst);
    else
      llama_unpermute_rows(src, heads, c.head_size(), r, dst);
  }
};

using LayoutIndex = std::map<std::string, std::pair<int, int>, std::less<>>;

// Our parameter-name stem of every projection of every layer -> (layer, projection).
template <class Arch, class Config>
LayoutIndex layout_index(const Config& c) {
  LayoutIndex index;
  for (int l = 0; l < c.n_layer; ++l)
    for (int t = 0; t < Arch::Layout::kNumProj; ++t) index[Arch::Layout::name(l, t)] = {l, t};
  return index;
}

template <class Arch, class Model>
void save_lora_peft(const std::filesystem::path& dir, const Model& model,
                    const std::string& base_model_name_or_path) {
  GFNLM_CHECK(model.has_lora(), "save_lora_peft('{}'): the model has no LoRA adapters",
              dir.string());
  const LoraConfig& lora = *model.lora_config();
  const auto index = layout_index<Arch>(model.config());
  PeftAdapter adapter;
  auto& c = adapter.config;
  c.base_model_name_or_path = base_model_name_or_path;
  c.r = lora.rank;
  c.lora_alpha = static_cast<float>(lora.alpha);
  c.fan_in_fan_out = Arch::kFanInFanOut;
  for (int t = 0; t < Arch::Layout::kNumProj; ++t)
    if (Arch::Layout::targeted(lora.targets, t)) c.target_modules.push_back(Arch::target_module(t));
  // lora_parameters() is non-const only because its views can write; here they are only read.
  for (const auto& p : const_cast<Model&>(model).lora_parameters()) {
    // "h.3.attn.c_attn.lora_A" -> module "transformer.h.3.attn.c_attn", matrix A
    const bool is_a = p.name.ends_with(".lora_A");
    const std::string stem = p.name.substr(0, p.name.size() - 7);
    auto& w = adapter.modules[Arch::module(stem)];
    const auto features = static_cast<int64_t>(p.size) / lora.rank;
    (is_a ? w.in_features : w.out_features) = features;
    std::vector<float>& dst = is_a ? w.a : w.b;
    dst.resize(p.size);
    if (is_a)
      std::copy(p.value, p.value + p.size, dst.begin());
    else
      Arch::b_rows(model.config(), index.at(stem).second, p.value, dst.data(), lora.rank,
                   static_cast<int>(features), true);
  }
  write_peft_adapter(dir, adapter);
}

// Rejects options io/peft.hpp does not model but which change the update.
inline void check_peft_options(const std::filesystem::path& dir, const PeftAdapter& adapter) {
  const auto cfg_name = (dir / "adapter_config.json").string();
  const auto bytes = read_file_bytes(dir / "adapter_config.json", 1u << 24);
  const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
  for (const char* key : {"use_rslora", "use_dora"})
    if (const auto it = j.find(key);
        it != j.end() && !(it->is_boolean() && !it->get<bool>()) && !it->is_null())
      throw FormatError(fmt::format("'{}': {} = {} is not supported", cfg_name, key, it->dump()));
  if (adapter.config.bias != "none")
    throw FormatError(fmt::format("'{}': bias '{}' is not supported (only \"none\")", cfg_name,
                                  adapter.config.bias));
}

template <class Arch, class Model>
void load_lora_peft(const std::filesystem::path& dir, Model& model) {
  using Layout = typename Arch::Layout;
  const PeftAdapter adapter = read_peft_adapter(dir);
  check_peft_options(dir, adapter);
  const auto weights_name = (dir / "adapter_model.safetensors").string();
  const auto& mc = model.config();
  const auto index = layout_index<Arch>(mc);
  std::map<std::pair<int, int>, const LoraWeights*> found;
  uint32_t targets = 0;
  for (const auto& [module, w] : adapter.modules) {
    const auto it = index.find(Arch::layout_name(module));
    if (it == index.end())
      throw FormatError(fmt::format("'{}': module '{}' is not a projection of this {} ({})",
                                    weights_name, module, Arch::kModel,
                                    fmt::format(fmt::runtime(Arch::kModules), mc.n_layer - 1)));
    const auto [layer, t] = it->second;
    const auto [in, out] = Layout::dims(mc, t);
    if (w.in_features != in || w.out_features != out)
      throw FormatError(
          fmt::format("'{}': module '{}' adapts {} -> {} features, the model's projection is {} -> "
                      "{}",
                      weights_name, module, w.in_features, w.out_features, in, out));
    found[{layer, t}] = &w;
    // LoraConfig's target bits may each cover a group of projections (Llama's q/k/v, gate/up).
    for (uint32_t bit = 0; bit < 4; ++bit)
      if (Layout::targeted(1u << bit, t)) targets |= 1u << bit;
  }
  if (targets == 0) throw FormatError(fmt::format("'{}': holds no LoRA weights", weights_name));
  for (const auto& [stem, lt] : index)
    if (Layout::targeted(targets, lt.second) && !found.count(lt))
      throw FormatError(
          fmt::format("'{}': module '{}' has no adapter, but the adapter adapts that projection "
                      "(or its group) elsewhere, and gfnlm adapts the same projections in every "
                      "layer",
                      weights_name, Arch::module(stem)));
  LoraConfig lora;
  lora.rank = adapter.config.r;
  lora.alpha = adapter.config.lora_alpha;
  lora.targets = targets;
  Rng rng(0);  // enable_lora draws A; every value is overwritten below
  model.enable_lora(lora, rng);
  std::vector<float> ordered;
  for (const auto& p : model.lora_parameters()) {
    const bool is_a = p.name.ends_with(".lora_A");
    const auto lt = index.at(p.name.substr(0, p.name.size() - 7));
    const LoraWeights& w = *found.at(lt);
    const std::vector<float>& src = is_a ? w.a : w.b;
    GFNLM_CHECK(src.size() == p.size, "load_lora_peft: '{}' holds {} values, expected {}", p.name,
                src.size(), p.size);
    ordered.resize(p.size);
    if (is_a)
      std::copy(src.begin(), src.end(), ordered.begin());
    else
      Arch::b_rows(mc, lt.second, src.data(), ordered.data(), lora.rank,
                   static_cast<int>(w.out_features), false);
    for (std::size_t i = 0; i < p.size; ++i)
      p.value[i] = static_cast<std::remove_cvref_t<decltype(*p.value)>>(ordered[i]);
  }
}

}  // namespace detail

// Writes the model's adapters (it must have some) to `dir` in the PEFT layout.
template <class S>
void save_lora_peft(const std::filesystem::path& dir, const Transformer<Cpu, S>& model,
                    const std::string& base_model_name_or_path = "") {
  detail::save_lora_peft<detail::Gpt2Peft>(dir, model, base_model_name_or_path);
}
template <class S>
void save_lora_peft(const std::filesystem::path& dir, const LlamaTransformer<Cpu, S>& model,
                    const std::string& base_model_name_or_path = "") {
  detail::save_lora_peft<detail::LlamaPeft>(dir, model, base_model_name_or_path);
}

// Replaces the model's adapters with those in `dir` (rank, alpha and targets from the adapter;
// every layer must adapt the same projections, as model/lora_adapters.hpp lays them out; for
// Llama, LoraConfig's four target bits each cover a group: q/k/v, o, gate/up, down) and freezes
// the base, as enable_lora() does. Shapes are checked against the model before any copy.
template <class S>
void load_lora_peft(const std::filesystem::path& dir, Transformer<Cpu, S>& model) {
  detail::load_lora_peft<detail::Gpt2Peft>(dir, model);
}
template <class S>
void load_lora_peft(const std::filesystem::path& dir, LlamaTransformer<Cpu, S>& model) {
  detail::load_lora_peft<detail::LlamaPeft>(dir, model);
}

}  // namespace gfnlm
