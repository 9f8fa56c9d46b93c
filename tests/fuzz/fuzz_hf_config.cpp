// libFuzzer target: Hugging Face config.json parsing on arbitrary bytes. Only gfnlm::Error may
// escape, and an accepted config must be internally consistent.
#include <gfnlm/io/hf_config.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto c = gfnlm::parse_hf_config({reinterpret_cast<const char*>(data), size}, "fuzz");
    if (c.hidden_size % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0) std::abort();
  } catch (const gfnlm::Error&) {
  }
  return 0;
}
