#pragma once
// The Hugging Face fixtures written by tests/reference/make_hf_{gpt2,llama}_fixture.py: folder,
// token batch and PyTorch logits, and how far our logits are from them.
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/io/gpt2_safetensors.hpp>

#include <fmt/format.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace gfnlm::test {

inline std::filesystem::path hf_gpt2_dir() {
  return std::filesystem::path(GFNLM_SOURCE_DIR) / "tests" / "reference" / "hf_gpt2";
}

struct HfGpt2Expected {
  int batch = 0, seq_len = 0, vocab = 0;
  std::vector<int32_t> tokens;
  nlohmann::json logits;  // variant -> [B * T * V] floats

  static HfGpt2Expected load(const std::filesystem::path& dir = hf_gpt2_dir()) {
    const auto bytes = read_file_bytes(dir / "expected.json", 1u << 24);
    const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    HfGpt2Expected e;
    e.batch = j.at("batch");
    e.seq_len = j.at("seq_len");
    e.vocab = j.at("vocab_size");
    e.tokens = j.at("tokens").get<std::vector<int32_t>>();
    e.logits = j.at("logits");
    return e;
  }
  std::vector<float> of(const std::string& variant) const {
    return logits.at(variant).get<std::vector<float>>();
  }
};

// An empty scratch folder, distinct per process so concurrent test runs do not collide.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("gfnlm_test_io_models_{}_{}", ::getpid(), name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// max |ours - ref| / max |ref|: the error relative to the logits' scale.
inline double relative_error(const float* ours, const std::vector<float>& ref) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(ours[i]) - ref[i]));
    scale = std::max(scale, std::abs(static_cast<double>(ref[i])));
  }
  return diff / scale;
}

// Forward of the fixture's batch; returns the logits (B * T * V floats).
template <class Model>
std::vector<float> fixture_logits(Model& model, const HfGpt2Expected& e) {
  model.forward(e.tokens.data(), e.batch, e.seq_len);
  const float* l = model.logits();
  return {l, l + static_cast<std::size_t>(e.batch) * e.seq_len * e.vocab};
}

}  // namespace gfnlm::test
