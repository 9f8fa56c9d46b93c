// libFuzzer target: the llama2.c checkpoint reader (both layouts) on arbitrary bytes in memory.
// Only gfnlm::Error may escape; a crash or sanitizer report is a bug.
#include <gfnlm/io/llama2c.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto ckpt = gfnlm::read_llama2c_checkpoint(bytes, "fuzz");
    if (ckpt.tensors.empty()) std::abort();
  } catch (const gfnlm::Error&) {
  }
  return 0;
}
