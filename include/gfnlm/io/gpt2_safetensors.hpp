#pragma once
// GPT-2 checkpoints in the Hugging Face safetensors layout, in and out (issue 4, acceptance 2).
//
// Loading takes what `GPT2LMHeadModel` / `GPT2Model` save: tensor names with or without the
// "transformer." prefix, one file or shards with model.safetensors.index.json, F32/F16/BF16
// converted to float, hyperparameters from config.json. HF's Conv1D stores weights [in, out];
// our projections are [out, in] (model/gpt2_layout.hpp), so c_attn, c_proj and c_fc weights are
// transposed on load and on save. The attention-mask buffers (attn.bias, attn.masked_bias) are
// skipped; lm_head.weight is read when the config unties the head and ignored when tied (HF
// ties it to wte then, whatever the file holds). Every tensor's shape is checked against the
// config before anything is copied; a missing or unexpected tensor, or one holding a NaN or inf,
// is a FormatError naming the file and tensor.
//
// Saving writes HF GPT2LMHeadModel names ("transformer.h.0.attn.c_attn.weight", Conv1D weights
// [in, out], lm_head.weight only when untied), so HF transformers and other tools read it, with
// a __metadata__ block {"format": "pt", "gfnlm.format": "gpt2", "gfnlm.config": <config.json>};
// save_gpt2_hf_dir() also writes config.json beside it, making a folder from_pretrained loads.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/finite.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/io/hf_config.hpp>
#include <gfnlm/io/safetensors.hpp>
#include <gfnlm/io/safetensors_shards.hpp>
#include <gfnlm/model/transformer.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace gfnlm {

using Gpt2Model = Transformer<Cpu, float>;

namespace detail {

// HF Conv1D weights ([in, out] in the file, [out, in] here).
inline bool gpt2_is_conv1d_weight(const std::string& name) {
  return name.ends_with("attn.c_attn.weight") || name.ends_with("attn.c_proj.weight") ||
         name.ends_with("mlp.c_fc.weight") || name.ends_with("mlp.c_proj.weight");
}

// HF's name for one of our base parameters ("h.0.ln_1.weight" -> "transformer.h.0.ln_1.weight").
inline std::string gpt2_hf_name(const std::string& ours) {
  return ours == "lm_head.weight" ? ours : "transformer." + ours;
}

// The shape HF stores a parameter with: our view holds `size` values; matrices are named by the
// config. Vectors are [size]; Conv1D weights [in, out]; embeddings and the head [rows, C].
inline std::vector<int64_t> gpt2_hf_shape(const std::string& ours, std::size_t size,
                                          const TransformerConfig& c) {
  const int64_t C = c.d_model, V = c.vocab_size, T = c.max_seq_len;
  if (ours == "wte.weight" || ours == "lm_head.weight") return {V, C};
  if (ours == "wpe.weight") return {T, C};
  if (ours.ends_with("attn.c_attn.weight")) return {C, 3 * C};
  if (ours.ends_with("attn.c_proj.weight")) return {C, C};
  if (ours.ends_with("mlp.c_fc.weight")) return {C, 4 * C};
  if (ours.ends_with("mlp.c_proj.weight")) return {4 * C, C};
  return {static_cast<int64_t>(size)};
}

// dst[j, i] = src[i, j] for src [rows, cols].
inline void transpose_into(const float* src, int64_t rows, int64_t cols, float* dst) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
}

// Buffers HF keeps in GPT-2 state dicts that are not parameters: the causal mask and its fill.
inline bool gpt2_is_known_buffer(const std::string& name) {
  return name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias");
}

}  // namespace detail

// Our transformer config from HF's. Fails on what our blocks cannot compute (SPEC: GPT-2 blocks
// have d_ff = 4 C, tanh GELU, LayerNorm eps 1e-5).
inline TransformerConfig gpt2_config_from_hf(const HfModelConfig& hf, const std::string& file) {
  if (hf.model_type != "gpt2")
    throw FormatError(fmt::format("'{}': model_type '{}' is not gpt2", file, hf.model_type));
  if (hf.intermediate_size != 4 * hf.hidden_size)
    throw FormatError(
        fmt::format("'{}': n_inner = {} is not supported (GPT-2 blocks use 4 * "
                    "n_embd = {})",
                    file, hf.intermediate_size, 4 * hf.hidden_size));
  if (hf.activation != "gelu_new" && hf.activation != "gelu_pytorch_tanh")
    throw FormatError(fmt::format("'{}': activation_function '{}' is not supported (gelu_new)",
                                  file, hf.activation));
  if (std::abs(hf.norm_eps - 1e-5f) > 1e-9f)
    throw FormatError(
        fmt::format("'{}': layer_norm_epsilon = {} is not supported (the CPU LayerNorm uses 1e-5)",
                    file, hf.norm_eps));
  TransformerConfig c;
  c.vocab_size = hf.vocab_size;
  c.max_seq_len = hf.max_positions;
  c.n_layer = hf.n_layers;
  c.n_head = hf.n_heads;
  c.d_model = hf.hidden_size;
  c.tied_head = hf.tie_word_embeddings;
  c.validate();
  return c;
}

// HF GPT-2 config.json for our config (what save_gpt2_hf_dir writes).
inline nlohmann::ordered_json gpt2_hf_config_json(const TransformerConfig& c) {
  return {{"architectures", {"GPT2LMHeadModel"}},
          {"model_type", "gpt2"},
          {"vocab_size", c.vocab_size},
          {"n_positions", c.max_seq_len},
          {"n_ctx", c.max_seq_len},
          {"n_embd", c.d_model},
          {"n_layer", c.n_layer},
          {"n_head", c.n_head},
          {"n_inner", nullptr},
          {"activation_function", "gelu_new"},
          {"layer_norm_epsilon", 1e-5},
          {"initializer_range", c.init_std},
          {"tie_word_embeddings", c.tied_head},
          {"torch_dtype", "float32"}};
}

// Builds a model from opened weights and a config (the lowest-level entry point); `source` names
// the checkpoint in errors about tensors it lacks.
inline Gpt2Model load_gpt2(const SafetensorsShards& weights, const TransformerConfig& config,
                           const std::string& source = "checkpoint") {
  config.validate();
  Rng rng(0);  // the constructor initialises; every value is overwritten below
  Gpt2Model model(config, rng);
  auto params = model.base_parameters();
  // GPT2LMHeadModel prefixes "transformer." to every name but lm_head; GPT2Model prefixes none.
  bool prefixed = false;
  for (const auto& name : weights.tensor_names()) prefixed |= name.starts_with("transformer.");
  auto file_name = [&](const std::string& ours) {
    return prefixed ? detail::gpt2_hf_name(ours) : ours;
  };
  std::set<std::string> used;
  // Validate every shape before copying anything.
  for (const auto& p : params) {
    const auto name = file_name(p.name);
    if (!weights.contains(name))
      throw FormatError(fmt::format("'{}': GPT-2 tensor '{}' is missing ({} tensors in the file)",
                                    source, name, weights.tensor_names().size()));
    weights.expect(name, detail::gpt2_hf_shape(p.name, p.size, config));
    used.insert(name);
  }
  for (const auto& name : weights.tensor_names()) {
    if (used.count(name) || detail::gpt2_is_known_buffer(name)) continue;
    if (name == "lm_head.weight" && config.tied_head) continue;  // HF ties it to wte
    throw FormatError(fmt::format(
        "'{}': unexpected tensor '{}' in a GPT-2 checkpoint (L = {}, tied head = {})",
        weights.shard_of(name).path().string(), name, config.n_layer, config.tied_head));
  }
  // Values are checked in the file's order, so the index an error names is the file's.
  std::vector<float> buf;
  for (const auto& p : params) {
    const auto name = file_name(p.name);
    const auto file = weights.shard_of(name).path().string();
    if (!detail::gpt2_is_conv1d_weight(p.name)) {
      weights.read_float_into(name, {p.value, p.size});
      require_finite(p.value, p.size, file, name);
      continue;
    }
    const auto shape = weights.info(name).shape;
    buf.resize(p.size);
    weights.read_float_into(name, buf);
    require_finite(buf.data(), buf.size(), file, name);
    detail::transpose_into(buf.data(), shape[0], shape[1], p.value);
  }
  return model;
}

// Loads a Hugging Face GPT-2 checkpoint. `path`: a folder with config.json and model.safetensors
// or model.safetensors.index.json, or a .safetensors / index .json file. The config comes from
// config.json beside the weights, else from the file's "gfnlm.config" metadata (save_gpt2()).
inline Gpt2Model load_gpt2(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const auto weights = SafetensorsShards::open(path);
  const auto dir = fs::is_directory(path) ? path : path.parent_path();
  const auto config_file = dir / "config.json";
  if (fs::exists(config_file))
    return load_gpt2(weights,
                     gpt2_config_from_hf(read_hf_config(config_file), config_file.string()),
                     path.string());
  const auto& meta = weights.metadata();
  const auto it = meta.find("gfnlm.config");
  if (it == meta.end())
    throw FormatError(
        fmt::format("'{}': no config.json beside the weights and no 'gfnlm.config' "
                    "in the safetensors metadata",
                    path.string()));
  const auto where = path.string() + " __metadata__ gfnlm.config";
  return load_gpt2(weights, gpt2_config_from_hf(parse_hf_config(it->second, where), where),
                   path.string());
}

// Writes the model's base weights (adapters are saved apart: io/lora_peft.hpp) as one
// safetensors file in HF GPT2LMHeadModel names, stored as `dtype` (F32, F16 or BF16).
inline void save_gpt2(const std::filesystem::path& file, const Gpt2Model& model,
                      Dtype dtype = Dtype::F32) {
  const auto& config = model.config();
  // base_parameters() is non-const only because its views can write; here they are only read.
  auto params = const_cast<Gpt2Model&>(model).base_parameters();
  std::vector<std::vector<float>> transposed;
  transposed.reserve(params.size());
  std::map<std::string, TensorView> tensors;
  for (const auto& p : params) {
    auto shape = detail::gpt2_hf_shape(p.name, p.size, config);
    std::span<const float> data(p.value, p.size);
    if (detail::gpt2_is_conv1d_weight(p.name)) {
      auto& t = transposed.emplace_back(p.size);
      detail::transpose_into(p.value, shape[1], shape[0], t.data());  // ours is [out, in]
      data = t;
    }
    tensors[detail::gpt2_hf_name(p.name)] = {std::move(shape), data};
  }
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"gfnlm.format", "gpt2"},
      {"gfnlm.config", gpt2_hf_config_json(config).dump()}};
  write_safetensors(file, tensors, metadata, dtype);
}

// A folder HF's GPT2LMHeadModel.from_pretrained reads: model.safetensors + config.json.
inline void save_gpt2_hf_dir(const std::filesystem::path& dir, const Gpt2Model& model,
                             Dtype dtype = Dtype::F32) {
  std::filesystem::create_directories(dir);
  save_gpt2(dir / "model.safetensors", model, dtype);
  auto j = gpt2_hf_config_json(model.config());
  j["torch_dtype"] = dtype == Dtype::F32 ? "float32" : dtype == Dtype::F16 ? "float16" : "bfloat16";
  write_file_atomically(dir / "config.json", [&](std::ostream& os) { os << j.dump(2) << '\n'; });
}

}  // namespace gfnlm
