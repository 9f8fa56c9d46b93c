// libFuzzer target: SafetensorsFile::open on arbitrary bytes (written to a per-process temporary
// file, as the reader works on files), then every tensor read and converted. Only gfnlm::Error
// may escape; a crash, hang or sanitizer report is a bug.
#include <gfnlm/io/safetensors.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto path = std::filesystem::temp_directory_path() /
                           ("gfnlm_fuzz_" + std::to_string(::getpid()) + ".safetensors");
  {
    std::ofstream os(path, std::ios::binary | std::ios::trunc);
    os.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto file = gfnlm::SafetensorsFile::open(path);
    for (const auto& name : file.tensor_names()) {
      const auto values = file.read_float(name);
      if (values.size() != static_cast<std::size_t>(file.info(name).numel())) std::abort();
    }
  } catch (const gfnlm::Error&) {
  }
  return 0;
}
