#pragma once
// Which architecture a Hugging Face checkpoint holds ("gpt2", "llama", ...): config.json's
// model_type beside the weights, else the "gfnlm.format" metadata our own writers put in the
// safetensors header. Programs that take "any checkpoint" use it to pick load_gpt2 / load_llama.
#include <gfnlm/core/error.hpp>
#include <gfnlm/io/hf_config.hpp>
#include <gfnlm/io/safetensors_shards.hpp>

#include <filesystem>
#include <string>

namespace gfnlm {

// `path`: a checkpoint folder, a .safetensors file or a model.safetensors.index.json.
inline std::string hf_model_type(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const auto config = (fs::is_directory(path) ? path : path.parent_path()) / "config.json";
  if (fs::exists(config)) return read_hf_config(config).model_type;
  const auto shards = SafetensorsShards::open(path);
  const auto it = shards.metadata().find("gfnlm.format");
  GFNLM_CHECK(it != shards.metadata().end(),
              "'{}': no config.json beside the weights and no 'gfnlm.format' metadata",
              path.string());
  return it->second;
}

}  // namespace gfnlm
