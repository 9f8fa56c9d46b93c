#pragma once
// LoRA adapters in the layout Hugging Face PEFT saves and loads (save_pretrained /
// PeftModel.from_pretrained), kept apart from the base model (issue 4):
//   <dir>/adapter_config.json          {"peft_type": "LORA", "r": .., "lora_alpha": ..,
//                                       "target_modules": [..], "base_model_name_or_path": .., ...}
//   <dir>/adapter_model.safetensors    "base_model.model.<module>.lora_A.weight" [r, in_features]
//                                      "base_model.model.<module>.lora_B.weight" [out_features, r]
// <module> is the base model's module path, e.g. "transformer.h.0.attn.c_attn" (GPT-2) or
// "model.layers.0.self_attn.q_proj" (Llama). The update is W += (lora_alpha / r) * B A, with
// fan_in_fan_out marking GPT-2's transposed Conv1D weights. This file is the format only; the
// model layer maps its LoRA parameters to module paths. gfnlm records the FNV-1a 64 and length of
// the tensor data in the safetensors __metadata__ (io/safetensors.hpp), so a corrupted adapter is
// an error on load; adapters from PEFT itself lack them and load all the same. A NaN or inf
// weight is an error naming the file and tensor (core/finite.hpp).
#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/finite.hpp>
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/io/safetensors.hpp>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace gfnlm {

struct PeftLoraConfig {
  std::string base_model_name_or_path;
  int r = 8;
  float lora_alpha = 16.0f;
  float lora_dropout = 0.0f;
  std::vector<std::string> target_modules;  // e.g. {"c_attn"} or {"q_proj", "v_proj"}
  bool fan_in_fan_out = false;              // true for GPT-2's Conv1D layers
  std::string task_type = "CAUSAL_LM";
  std::string bias = "none";
  bool operator==(const PeftLoraConfig&) const = default;
};

struct LoraWeights {
  int64_t in_features = 0, out_features = 0;
  std::vector<float> a;  // [r, in_features], row-major
  std::vector<float> b;  // [out_features, r], row-major
};

struct PeftAdapter {
  PeftLoraConfig config;
  std::map<std::string, LoraWeights> modules;  // module path -> weights
};

namespace detail {
inline const std::string kPeftPrefix = "base_model.model.";
}

inline void write_peft_adapter(const std::filesystem::path& dir, const PeftAdapter& adapter) {
  const auto& c = adapter.config;
  GFNLM_CHECK(c.r > 0, "write_peft_adapter('{}'): r = {} must be positive", dir.string(), c.r);
  std::map<std::string, TensorView> tensors;
  for (const auto& [module, w] : adapter.modules) {
    GFNLM_CHECK(
        w.a.size() == static_cast<std::size_t>(c.r * w.in_features) &&
            w.b.size() == static_cast<std::size_t>(w.out_features * c.r),
        "write_peft_adapter('{}'): module '{}' has A of {} and B of {} values; with r = {}, "
        "in {}, out {} they need {} and {}",
        dir.string(), module, w.a.size(), w.b.size(), c.r, w.in_features, w.out_features,
        c.r * w.in_features, w.out_features * c.r);
    tensors[detail::kPeftPrefix + module + ".lora_A.weight"] = {{c.r, w.in_features}, w.a};
    tensors[detail::kPeftPrefix + module + ".lora_B.weight"] = {{w.out_features, c.r}, w.b};
  }
  std::filesystem::create_directories(dir);
  write_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}}, Dtype::F32,
                    /*record_checksum=*/true);
  const nlohmann::ordered_json j = {{"base_model_name_or_path", c.base_model_name_or_path},
                                    {"bias", c.bias},
                                    {"fan_in_fan_out", c.fan_in_fan_out},
                                    {"inference_mode", true},
                                    {"init_lora_weights", true},
                                    {"lora_alpha", c.lora_alpha},
                                    {"lora_dropout", c.lora_dropout},
                                    {"modules_to_save", nullptr},
                                    {"peft_type", "LORA"},
                                    {"r", c.r},
                                    {"target_modules", c.target_modules},
                                    {"task_type", c.task_type}};
  write_file_atomically(dir / "adapter_config.json",
                        [&](std::ostream& os) { os << j.dump(2) << '\n'; });
}

inline PeftAdapter read_peft_adapter(const std::filesystem::path& dir) {
  PeftAdapter adapter;
  auto& c = adapter.config;
  const auto config_path = dir / "adapter_config.json";
  const auto name = config_path.string();
  const auto bytes = read_file_bytes(config_path, 1u << 24);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("'{}': not valid JSON: {}", name, e.what()));
  }
  if (!j.is_object()) throw FormatError(fmt::format("'{}': not a JSON object", name));
  auto field = [&](const char* key, auto& out, bool required) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) throw FormatError(fmt::format("'{}': field '{}' is missing", name, key));
      return;
    }
    try {
      it->get_to(out);
    } catch (const nlohmann::json::exception&) {
      throw FormatError(
          fmt::format("'{}': field '{}' has the wrong type ({})", name, key, it->dump()));
    }
  };
  std::string peft_type;
  field("peft_type", peft_type, true);
  if (peft_type != "LORA")
    throw FormatError(
        fmt::format("'{}': peft_type '{}' is not supported (only LORA)", name, peft_type));
  field("r", c.r, true);
  field("lora_alpha", c.lora_alpha, true);
  field("lora_dropout", c.lora_dropout, false);
  field("base_model_name_or_path", c.base_model_name_or_path, false);
  field("fan_in_fan_out", c.fan_in_fan_out, false);
  field("task_type", c.task_type, false);
  field("bias", c.bias, false);
  if (const auto it = j.find("target_modules"); it != j.end() && it->is_string())
    c.target_modules = {it->get<std::string>()};  // PEFT also allows one regex string
  else
    field("target_modules", c.target_modules, false);
  if (c.r <= 0) throw FormatError(fmt::format("'{}': r = {} must be positive", name, c.r));

  const auto weights = SafetensorsFile::open(dir / "adapter_model.safetensors");
  const auto wname = weights.path().string();
  for (const auto& tensor : weights.tensor_names()) {
    const bool is_a = tensor.ends_with(".lora_A.weight"), is_b = tensor.ends_with(".lora_B.weight");
    if (!tensor.starts_with(detail::kPeftPrefix) || !(is_a || is_b))
      throw FormatError(
          fmt::format("'{}': tensor '{}' is not a LoRA weight "
                      "(base_model.model.<module>.lora_A/B.weight)",
                      wname, tensor));
    const auto module =
        tensor.substr(detail::kPeftPrefix.size(), tensor.size() - detail::kPeftPrefix.size() - 14);
    const auto& info = weights.info(tensor);
    if (info.shape.size() != 2 || info.shape[is_a ? 0 : 1] != c.r)
      throw FormatError(fmt::format("'{}': tensor '{}' has shape [{}], expected {} with r = {}",
                                    wname, tensor, fmt::join(info.shape, ", "),
                                    is_a ? "[r, in_features]" : "[out_features, r]", c.r));
    auto& w = adapter.modules[module];
    auto& values = is_a ? w.a : w.b;
    (is_a ? w.in_features : w.out_features) = info.shape[is_a ? 1 : 0];
    values = weights.read_float(tensor);
    require_finite(values.data(), values.size(), wname, tensor);
  }
  for (const auto& [module, w] : adapter.modules)
    for (const auto& [features, which] : {std::pair{w.in_features, "A"}, {w.out_features, "B"}})
      if (features == 0)
        throw FormatError(fmt::format("'{}': module '{}' lacks its lora_{} weight (or it is empty)",
                                      wname, module, which));
  return adapter;
}

}  // namespace gfnlm
