// libFuzzer target: the tasks' data readers on arbitrary bytes. Byte 0 picks the reader:
//   0 (bits 0-1): the arithmetic data-set JSON (tasks/arithmetic/dataset.hpp, parse_items);
//   1: a cached base model file, as read (core/sealed_file.hpp, then the model stream);
//   2: a cached base model's payload, sealed here with a correct checksum, so the model stream
//      parser behind the seal is fuzzed too.
//   3: a SUBJ JSONL file (tasks/subjectivity/dataset.hpp, read_jsonl).
// For 1 and 2, bit 2 of byte 0 picks the task (arithmetic or uniform_integers). Only
// gfnlm::Error may escape, and what is accepted must be consistent; a crash or sanitizer report
// is a bug.
//
// GFNLM_FUZZ_WRITE_SEEDS=DIR writes seed inputs (small base models saved by this build) to DIR
// and exits; make_seeds.py runs it and writes the JSON seeds itself.
#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/tasks/arithmetic/base_model.hpp>
#include <gfnlm/tasks/arithmetic/dataset.hpp>
#include <gfnlm/tasks/subjectivity/dataset.hpp>
#include <gfnlm/tasks/uniform_integers/base_model.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace gfnlm;

void check_model(const Transformer<Cpu, float>& model) {
  const auto& c = model.config();
  if (c.vocab_size <= 0 || c.n_layer <= 0 || c.d_model % c.n_head != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* out = std::getenv("GFNLM_FUZZ_WRITE_SEEDS")) {
    std::filesystem::create_directories(out);
    Rng rng(3);
    for (const bool tied : {true, false}) {
      Transformer<Cpu, float> model({.vocab_size = 5,
                                     .max_seq_len = 3,
                                     .n_layer = 1,
                                     .n_head = 2,
                                     .d_model = 4,
                                     .tied_head = tied},
                                    rng);
      std::ostringstream stream;
      model.save(stream);
      const auto path = std::filesystem::path(out) / "model.tmpseed";
      write_sealed_file(path, "seed", [&](std::ostream& os) { os << stream.str(); });
      std::ifstream is(path, std::ios::binary);
      std::stringstream file;
      file << is.rdbuf();
      std::filesystem::remove(path);
      const std::string name = tied ? "model_tied" : "model_untied";
      for (const char task : {char(0), char(4)}) {
        const std::string suffix = task ? "_uniform" : "_arithmetic";
        std::ofstream(std::filesystem::path(out) / (name + "_file" + suffix), std::ios::binary)
            << char(1 | task) << file.str();
        std::ofstream(std::filesystem::path(out) / (name + "_payload" + suffix), std::ios::binary)
            << char(2 | task) << stream.str();
      }
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] & 3;
  const bool uniform = data[0] & 4;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode == 0) {
    try {
      for (const auto& item : arithmetic::parse_items(std::move(bytes), "fuzz.json"))
        if (item.answer != item.problem.answer() || item.problem.num_operands() < 2) std::abort();
    } catch (const Error&) {
    }
    return 0;
  }
  static const auto path = std::filesystem::temp_directory_path() /
                           ("gfnlm_fuzz_" + std::to_string(::getpid()) + "_base.bin");
  if (mode == 3) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      for (const auto& e : subjectivity::read_jsonl(path))
        if (e.text.empty() || (e.label != 0 && e.label != 1)) std::abort();
    } catch (const Error&) {
    }
    return 0;
  }
  if (mode == 2)
    write_sealed_file(path, "fuzz", [&](std::ostream& os) { os << bytes; });
  else
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    check_model(uniform ? uniform_integers::read_cached_base_model(path)
                        : arithmetic::read_cached_base_model(path));
  } catch (const Error&) {
  }
  return 0;
}
