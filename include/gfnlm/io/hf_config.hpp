#pragma once
// Hyperparameters from a Hugging Face `config.json` (GPT-2 and Llama families), in one neutral
// struct for the model layer to build its Config from (issue 4: "hyperparameters from
// config.json"). Missing optional fields take the Hugging Face defaults; wrong types and
// inconsistent values are FormatErrors naming the file and field.
#include <gfnlm/core/error.hpp>
#include <gfnlm/io/byte_reader.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace gfnlm {

struct HfModelConfig {
  std::string model_type;  // "gpt2" or "llama" (also "mistral"-style Llama configs as "llama")
  int vocab_size = 0;
  int hidden_size = 0;        // GPT-2 n_embd
  int intermediate_size = 0;  // GPT-2 n_inner (default 4 * n_embd)
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;  // = n_heads for GPT-2 and for Llama configs without num_key_value_heads
  int max_positions = 0;
  float norm_eps = 1e-5f;       // layer_norm_epsilon / rms_norm_eps
  float rope_theta = 10000.0f;  // Llama only
  bool tie_word_embeddings = true;
  std::string activation;  // "gelu_new" (GPT-2), "silu" (Llama)

  int head_dim() const { return hidden_size / n_heads; }
};

namespace detail {

class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string file) : j_(j), file_(std::move(file)) {}

  template <class T>
  std::optional<T> optional(const char* key) const {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return std::nullopt;
    const bool ok = std::is_same_v<T, bool>          ? it->is_boolean()
                    : std::is_same_v<T, std::string> ? it->is_string()
                    : std::is_integral_v<T>          ? it->is_number_integer()
                                                     : it->is_number();
    if (!ok)
      throw FormatError(
          fmt::format("'{}': field '{}' has the wrong type ({})", file_, key, it->dump()));
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // Sizes beyond 2^28 are corrupt, and would overflow derived sizes such as 4 * n_embd.
      const auto v =
          it->is_number_unsigned()
              ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), uint64_t{1} << 62))
              : it->get<int64_t>();
      if (v > kMaxSize || v < -kMaxSize)
        throw FormatError(fmt::format("'{}': field '{}' = {} is out of range", file_, key, v));
      return static_cast<T>(v);
    }
    return it->get<T>();
  }
  template <class T>
  T required(const char* key) const {
    const auto v = optional<T>(key);
    if (!v) throw FormatError(fmt::format("'{}': required field '{}' is missing", file_, key));
    return *v;
  }

 private:
  static constexpr int64_t kMaxSize = int64_t{1} << 28;
  const nlohmann::json& j_;
  std::string file_;
};

}  // namespace detail

inline HfModelConfig parse_hf_config(std::string_view text, const std::string& file) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("'{}': not valid JSON: {}", file, e.what()));
  }
  if (!j.is_object()) throw FormatError(fmt::format("'{}': not a JSON object", file));
  const detail::JsonFields f(j, file);
  HfModelConfig c;
  c.model_type = f.required<std::string>("model_type");
  if (c.model_type == "gpt2") {
    c.vocab_size = f.required<int>("vocab_size");
    c.hidden_size = f.required<int>("n_embd");
    c.n_layers = f.required<int>("n_layer");
    c.n_heads = f.required<int>("n_head");
    c.n_kv_heads = c.n_heads;
    c.max_positions = f.required<int>("n_positions");
    c.intermediate_size = f.optional<int>("n_inner").value_or(4 * c.hidden_size);
    c.norm_eps = f.optional<float>("layer_norm_epsilon").value_or(1e-5f);
    c.tie_word_embeddings = f.optional<bool>("tie_word_embeddings").value_or(true);
    c.activation = f.optional<std::string>("activation_function").value_or("gelu_new");
  } else if (c.model_type == "llama" || c.model_type == "mistral") {
    c.model_type = "llama";
    c.vocab_size = f.required<int>("vocab_size");
    c.hidden_size = f.required<int>("hidden_size");
    c.intermediate_size = f.required<int>("intermediate_size");
    c.n_layers = f.required<int>("num_hidden_layers");
    c.n_heads = f.required<int>("num_attention_heads");
    c.n_kv_heads = f.optional<int>("num_key_value_heads").value_or(c.n_heads);
    c.max_positions = f.optional<int>("max_position_embeddings").value_or(2048);
    c.norm_eps = f.optional<float>("rms_norm_eps").value_or(1e-6f);
    c.rope_theta = f.optional<float>("rope_theta").value_or(10000.0f);
    c.tie_word_embeddings = f.optional<bool>("tie_word_embeddings").value_or(false);
    c.activation = f.optional<std::string>("hidden_act").value_or("silu");
    if (const auto scaling = j.find("rope_scaling"); scaling != j.end() && !scaling->is_null())
      throw FormatError(
          fmt::format("'{}': rope_scaling {} is not supported", file, scaling->dump()));
  } else {
    throw FormatError(
        fmt::format("'{}': model_type '{}' is not supported (gpt2, llama)", file, c.model_type));
  }
  const std::pair<const char*, int> positive[] = {{"vocab_size", c.vocab_size},
                                                  {"hidden size", c.hidden_size},
                                                  {"intermediate size", c.intermediate_size},
                                                  {"layers", c.n_layers},
                                                  {"attention heads", c.n_heads},
                                                  {"key/value heads", c.n_kv_heads},
                                                  {"max positions", c.max_positions}};
  for (const auto& [what, v] : positive)
    if (v <= 0) throw FormatError(fmt::format("'{}': {} = {} must be positive", file, what, v));
  if (c.hidden_size % c.n_heads != 0)
    throw FormatError(fmt::format("'{}': hidden size {} is not a multiple of {} heads", file,
                                  c.hidden_size, c.n_heads));
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
    throw FormatError(fmt::format("'{}': {} key/value heads do not divide {} heads", file,
                                  c.n_kv_heads, c.n_heads));
  if (!(c.norm_eps > 0) || !(c.rope_theta > 0) || !std::isfinite(c.norm_eps) ||
      !std::isfinite(c.rope_theta))
    throw FormatError(
        fmt::format("'{}': norm epsilon {} and rope_theta {} must be positive and finite", file,
                    c.norm_eps, c.rope_theta));
  return c;
}

inline HfModelConfig read_hf_config(const std::filesystem::path& path) {
  const auto bytes = read_file_bytes(path, 1u << 24);
  return parse_hf_config({bytes.data(), bytes.size()}, path.string());
}

}  // namespace gfnlm
