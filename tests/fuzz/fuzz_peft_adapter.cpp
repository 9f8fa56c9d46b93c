// libFuzzer target: a PEFT LoRA adapter folder (io/peft.hpp, io/lora_peft.hpp) from arbitrary
// bytes: adapter_config.json and adapter_model.safetensors, loaded into a tiny GPT-2 or Llama.
// Input layout: byte 0 picks the model (bit 0: Llama) and whether the safetensors data checksum
// is recomputed for the fuzzed data (bit 1: so the tensor values themselves get fuzzed past
// it); bytes 1-2 (little-endian) are the length of the config JSON; the JSON follows, then the
// safetensors file. Only gfnlm::Error may escape; a crash or sanitizer report is a bug.
#include <gfnlm/core/hash.hpp>
#include <gfnlm/io/lora_peft.hpp>

#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace {

using namespace gfnlm;

Transformer<Cpu, float> tiny_gpt2() {
  Rng rng(1);
  return Transformer<Cpu, float>(
      {.vocab_size = 7, .max_seq_len = 4, .n_layer = 2, .n_head = 2, .d_model = 4}, rng);
}

LlamaTransformer<Cpu, float> tiny_llama() {
  return LlamaTransformer<Cpu, float>({.vocab_size = 7,
                                       .max_seq_len = 4,
                                       .n_layer = 2,
                                       .n_head = 2,
                                       .n_kv_head = 1,
                                       .d_model = 4,
                                       .d_ff = 6});
}

// Rewrites the safetensors header's gfnlm.data_fnv1a64 / gfnlm.data_bytes to match the data, if
// the header parses and has them; otherwise leaves the bytes alone.
std::string fix_checksum(std::string file) {
  if (file.size() < 8) return file;
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  if (n > file.size() - 8) return file;
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(file.substr(8, n), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("__metadata__") ||
      !j["__metadata__"].is_object() || !j["__metadata__"].contains(SafetensorsFile::kChecksumKey))
    return file;
  const std::string_view data(file.data() + 8 + n, file.size() - 8 - n);
  j["__metadata__"][SafetensorsFile::kChecksumKey] = fmt::format("{:016x}", fnv1a64(data));
  j["__metadata__"][SafetensorsFile::kBytesKey] = std::to_string(data.size());
  std::string header = j.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  const uint64_t len = header.size();
  return std::string(reinterpret_cast<const char*>(&len), 8) + header + std::string(data);
}

template <class Model>
void load_into(const std::filesystem::path& dir, Model model) {
  try {
    load_lora_peft(dir, model);
  } catch (const Error&) {
    if (model.has_lora()) std::abort();  // a failed load enabled adapters
    return;
  }
  if (!model.has_lora()) std::abort();
  const int32_t tokens[] = {1, 2, 3};
  model.forward(tokens, 1, 3);  // the loaded adapters compute
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream is(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
}

// One seed: an adapter saved by save_lora_peft, in the input layout above.
template <class Model>
void write_seed(const std::filesystem::path& out, const std::string& name, Model model,
                char model_bit, const LoraConfig& lora) {
  Rng rng(2);
  model.enable_lora(lora, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<float>(0.1 * rng.normal());
  const auto dir = out / (name + ".tmpseed");
  save_lora_peft(dir, model, "tiny");
  const std::string json = file_bytes(dir / "adapter_config.json");
  const std::string weights = file_bytes(dir / "adapter_model.safetensors");
  std::filesystem::remove_all(dir);
  for (const char fix : {char(0), char(2)}) {
    std::ofstream os(out / (name + (fix ? "_fixsum" : "")), std::ios::binary);
    os << char(model_bit | fix) << char(json.size() & 0xff) << char(json.size() >> 8) << json
       << weights;
  }
}

}  // namespace

// GFNLM_FUZZ_WRITE_SEEDS=DIR: write seed inputs (adapters saved by this build) to DIR and exit;
// make_seeds.py runs it, so the seeds always follow the current format.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* out = std::getenv("GFNLM_FUZZ_WRITE_SEEDS")) {
    std::filesystem::create_directories(out);
    write_seed(out, "gpt2_all", tiny_gpt2(), 0, {.rank = 2, .alpha = 4.0});
    write_seed(out, "gpt2_qkv", tiny_gpt2(), 0,
               {.rank = 1, .alpha = 1.0, .targets = LoraTargets::qkv});
    write_seed(out, "llama_all", tiny_llama(), 1, {.rank = 2, .alpha = 4.0});
    write_seed(out, "llama_o_down", tiny_llama(), 1,
               {.rank = 3, .alpha = 2.0, .targets = LoraTargets::attn_proj | LoraTargets::fc_proj});
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static const auto dir =
      std::filesystem::temp_directory_path() / ("gfnlm_fuzz_peft_" + std::to_string(::getpid()));
  static const bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  const std::size_t json_len = std::min<std::size_t>(data[1] | (data[2] << 8), rest.size());
  {
    std::ofstream(dir / "adapter_config.json", std::ios::binary | std::ios::trunc)
        << rest.substr(0, json_len);
    std::string weights(rest.substr(json_len));
    if (data[0] & 2) weights = fix_checksum(std::move(weights));
    std::ofstream(dir / "adapter_model.safetensors", std::ios::binary | std::ios::trunc) << weights;
  }
  if (data[0] & 1)
    load_into(dir, tiny_llama());
  else
    load_into(dir, tiny_gpt2());
  return 0;
}
