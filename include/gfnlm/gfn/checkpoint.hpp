#pragma once
// The Sampler's checkpoint file: pieces that write and validate it (the Sampler composes them).
// Layout, in order, every section introduced by its name so a misaligned read is reported by name:
//   magic "gfnlm.Sampler", version, step, RNG state,
//   "policy.parameters", "policy.optimizer", "objective.parameters", "objective.optimizer",
//   "buffer", ["world" with the number of ranks, when more than one], "end".
// A data-parallel run (Sampler::set_communicator) holds the same state on every rank: rank 0
// writes it, with the world section.
// That layout is the payload of a sealed file (core/sealed_file.hpp): its length and FNV-1a 64
// checksum are verified before any of it is parsed, and the parse must end exactly at the end of
// the payload, so a flipped byte, a cut copy or appended bytes are errors naming the file.
// A load reads and validates everything into staging copies before touching the sampler, so a
// bad file leaves it as it was. Parameter values must be finite (core/finite.hpp).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/finite.hpp>
#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/optimizer.hpp>
#include <gfnlm/model/parameter.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace gfnlm::checkpoint {

inline constexpr const char* kSamplerMagic = "gfnlm.Sampler";
inline constexpr uint32_t kSamplerVersion = 1;
inline constexpr const char* kWhat = "sampler checkpoint";  // names the file kind in errors

// The checkpoint file at `path`, sealed, written atomically; `write` writes the layout above.
inline void write_file(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write) {
  write_sealed_file(path, kWhat, write);
}

// The verified payload of the checkpoint at `path`, to parse.
inline std::istringstream open_file(const std::filesystem::path& path) {
  return open_sealed_file(path, kWhat);
}

inline void write_section(std::ostream& os, const char* name) {
  write_string(os, name);
}

inline void read_section(std::istream& is, const char* name) {
  const std::string got = read_string(is, name);
  GFNLM_CHECK(got == name, "sampler checkpoint: expected section '{}', found '{}'", name, got);
}

// The "end" section, which must be the last bytes of the payload.
inline void check_at_end(std::istream& is) {
  if (is.peek() == std::char_traits<char>::eof()) {
    is.clear();
    return;
  }
  fail(
      "sampler checkpoint: {} bytes follow the 'end' section (written by another version, or "
      "corrupted)",
      stream_bytes_left(is).value_or(0));
}

inline void read_end(std::istream& is) {
  read_section(is, "end");
  check_at_end(is);
}

// After the buffer section: the optional "world" section and "end"; returns the number of ranks
// the file was written by (1 without the section).
inline int read_world_and_end(std::istream& is) {
  const std::string next = read_string(is, "section");
  if (next == "end") {
    check_at_end(is);
    return 1;
  }
  GFNLM_CHECK(next == "world",
              "sampler checkpoint: expected section 'world' or 'end' after 'buffer', found '{}'",
              next);
  const int world = read_pod<int32_t>(is, "world size");
  GFNLM_CHECK(world >= 2, "sampler checkpoint: its world section names {} ranks", world);
  read_end(is);
  return world;
}

inline void write_header(std::ostream& os) {
  write_string(os, kSamplerMagic);
  write_pod<uint32_t>(os, kSamplerVersion);
}

inline void read_header(std::istream& is, const std::string& path) {
  std::string magic;
  try {
    magic = read_string(is, "magic");
  } catch (const Error&) {
    fail("'{}' is not a gfnlm sampler checkpoint (no magic string)", path);
  }
  GFNLM_CHECK(magic == kSamplerMagic, "'{}' is not a gfnlm sampler checkpoint (magic '{}')", path,
              magic.substr(0, 32));
  const auto version = read_pod<uint32_t>(is, "version");
  GFNLM_CHECK(version == kSamplerVersion,
              "'{}' is a sampler checkpoint of version {}; this build reads version {}", path,
              version, kSamplerVersion);
}

// Names and values of every parameter tensor. Memory copies the values out of the parameters'
// memory (a ParameterOptimizer's to_host: a policy's parameters may live on a device).
template <class Memory = HostOptimizer>
void write_parameters(std::ostream& os, const ParameterList<float>& params) {
  write_pod<uint64_t>(os, params.size());
  std::vector<float> host;
  for (const auto& p : params) {
    write_string(os, p.name);
    host.resize(p.size);
    Memory::to_host(host.data(), p.value, p.size);
    write_array(os, host.data(), p.size);
  }
}

// Reads values written by write_parameters into staging vectors, checking count, names and sizes
// against `params` (what = "policy" or "objective", for the message).
inline std::vector<std::vector<float>> read_parameters(std::istream& is,
                                                       const ParameterList<float>& params,
                                                       const char* what) {
  const auto count = read_pod<uint64_t>(is, "parameter count");
  GFNLM_CHECK(count == params.size(),
              "sampler checkpoint holds {} {} parameter tensors, this sampler has {}", count, what,
              params.size());
  std::vector<std::vector<float>> values(params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    const std::string name = read_string(is, "parameter name");
    GFNLM_CHECK(name == params[k].name,
                "sampler checkpoint: {} parameter {} is '{}', this sampler expects '{}'", what, k,
                name, params[k].name);
    const auto size = read_pod<uint64_t>(is, "parameter size");
    GFNLM_CHECK(size == params[k].size,
                "sampler checkpoint: {} parameter '{}' holds {} values, this sampler has {}", what,
                name, size, params[k].size);
    values[k].resize(size);
    is.read(reinterpret_cast<char*>(values[k].data()),
            static_cast<std::streamsize>(size * sizeof(float)));
    GFNLM_CHECK(is.gcount() == static_cast<std::streamsize>(size * sizeof(float)),
                "sampler checkpoint truncated in {} parameter '{}'", what, name);
    const auto bad = first_non_finite(values[k].data(), values[k].size());
    GFNLM_CHECK(bad == values[k].size(),
                "sampler checkpoint: {} parameter '{}' holds a non-finite value: {} at index {} "
                "(of {})",
                what, name, values[k][bad], bad, size);
  }
  return values;
}

// The trajectories of a loaded replay buffer must be ones this sampler could have sampled, as
// Sampler::seed_buffer requires of the sequences it is given: min_len <= length <= max_len, every
// token allowed by the mask and none the stop token. Otherwise a checkpoint of another sampler
// (another vocabulary or max_len) would load and fail, or index out of range, only when a row
// is replayed. A Buffer without keys() / items() (a user's own) is not inspected.
template <class Buf, class Mask>
void check_buffer(const Buf& buffer, const Mask& mask, int32_t stop, int min_len, int max_len) {
  if constexpr (requires { buffer.items(buffer.keys().front()); }) {
    for (const uint64_t key : buffer.keys())
      for (const auto& item : buffer.items(key)) {
        const int len = static_cast<int>(item.actions.size());
        GFNLM_CHECK(len >= min_len && len <= max_len,
                    "sampler checkpoint: the replay buffer holds a trajectory of {} actions for "
                    "query key {}, outside this sampler's [min_len {}, max_len {}]",
                    len, key, min_len, max_len);
        for (int t = 0; t < len; ++t)
          GFNLM_CHECK(item.actions[t] != stop && mask.allowed(item.actions[t]),
                      "sampler checkpoint: the replay buffer holds token {} at position {} of a "
                      "trajectory for query key {}: the stop token, masked, or outside the "
                      "vocabulary [0, {})",
                      item.actions[t], t, key, mask.vocab_size());
        GFNLM_CHECK(len == max_len || !mask.bans_stop_after(item.actions),
                    "sampler checkpoint: the replay buffer holds a trajectory for query key {} "
                    "that ends with token {}, after which this sampler masks STOP (stop_after)",
                    key, len > 0 ? item.actions.back() : -1);
      }
  }
}

// Memory copies the values into the parameters' memory (a ParameterOptimizer's from_host).
template <class Memory = HostOptimizer>
void commit_parameters(const ParameterList<float>& params,
                       const std::vector<std::vector<float>>& values) {
  for (std::size_t k = 0; k < params.size(); ++k)
    Memory::from_host(params[k].value, values[k].data(), params[k].size);
}

}  // namespace gfnlm::checkpoint
