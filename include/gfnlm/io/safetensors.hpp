#pragma once
// Hugging Face safetensors: an 8-byte little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// then the data buffer, offsets relative to its start. open() validates the whole header against
// the file before any tensor is read (issue 4, acceptance 5): header length within the file,
// well-formed JSON, known dtypes, shape x dtype size == data_offsets span, offsets within the
// buffer and tiling it without overlap or holes (as the reference Rust implementation demands).
// Errors are FormatError naming the file and the tensor or field.
// gfnlm may record a checksum of the data buffer in __metadata__ (write_safetensors'
// record_checksum; the PEFT adapters do): "gfnlm.data_fnv1a64" (16 hex digits, FNV-1a 64 of the
// buffer) and "gfnlm.data_bytes" (its length, decimal). open() verifies them when present, so a
// flipped byte in the tensor data is an error; files from other tools lack them and load as
// before. The format itself is unchanged: other readers see two more metadata strings.
#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/hash.hpp>
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/io/dtype.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace gfnlm {

struct TensorInfo {
  Dtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the file (absolute)

  int64_t numel() const {
    int64_t n = 1;
    for (const auto d : shape) n *= d;
    return n;
  }
};

class SafetensorsFile {
 public:
  // The reference implementation's limit on the header; larger claims are corrupt files.
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  static SafetensorsFile open(const std::filesystem::path& path) {
    SafetensorsFile f;
    f.path_ = path;
    const auto size = file_size_checked(path);
    const auto name = path.string();
    if (size < 8)
      throw FormatError(
          fmt::format("'{}' is not a safetensors file: {} bytes, shorter than the "
                      "8-byte header length",
                      name, size));
    const auto prefix = read_file_range(path, 0, 8);
    const auto header_len = ByteReader({prefix.data(), 8}, name).read<uint64_t>("header length");
    if (header_len > kMaxHeaderBytes || header_len > size - 8)
      throw FormatError(
          fmt::format("'{}': header length {} exceeds the file ({} bytes after the "
                      "length field; limit {})",
                      name, header_len, size - 8, kMaxHeaderBytes));
    const auto header = read_file_range(path, 8, header_len);
    f.parse_header(std::string_view(header.data(), header.size()), 8 + header_len, size);
    f.verify_checksum(8 + header_len, size);
    return f;
  }

  static constexpr const char* kChecksumKey = "gfnlm.data_fnv1a64";
  static constexpr const char* kBytesKey = "gfnlm.data_bytes";

  // Parses and validates a header held in memory: `data_start` is where the data buffer begins
  // in the file and `file_size` the file's length. open() uses it; so do the fuzz targets.
  static SafetensorsFile from_header(std::string_view header, uint64_t data_start,
                                     uint64_t file_size, const std::filesystem::path& path) {
    SafetensorsFile f;
    f.path_ = path;
    f.parse_header(header, data_start, file_size);
    return f;
  }

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> tensor_names() const {
    std::vector<std::string> names;
    for (const auto& [n, _] : tensors_) names.push_back(n);
    return names;
  }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end())
      fail("'{}' has no tensor '{}' ({} tensors)", path_.string(), name, tensors_.size());
    return it->second;
  }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The stored bytes of one tensor.
  std::vector<char> read_raw(const std::string& name) const {
    const auto& t = info(name);
    return read_file_range(path_, t.begin, t.end - t.begin);
  }

  // The tensor converted to float (row-major, as stored).
  std::vector<float> read_float(const std::string& name) const {
    std::vector<float> out(static_cast<std::size_t>(info(name).numel()));
    read_float_into(name, out);
    return out;
  }

  // Reads into caller memory, e.g. a parameter buffer, which must hold exactly numel() floats.
  void read_float_into(const std::string& name, std::span<float> out) const {
    const auto& t = info(name);
    GFNLM_CHECK(out.size() == static_cast<std::size_t>(t.numel()),
                "'{}': tensor '{}' holds {} values, destination holds {}", path_.string(), name,
                t.numel(), out.size());
    const auto raw = read_raw(name);
    convert_to_float(t.dtype, raw.data(), out.size(), out.data());
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    throw FormatError(fmt::format("'{}': {}", path_.string(), what));
  }

  void parse_header(std::string_view text, uint64_t data_start, uint64_t file_size) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      bad(fmt::format("header is not valid JSON: {}", e.what()));
    }
    if (!j.is_object()) bad("header is not a JSON object");
    const uint64_t buffer = file_size - data_start;
    std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> spans;
    for (const auto& [name, entry] : j.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) bad("__metadata__ is not a JSON object");
        for (const auto& [k, v] : entry.items()) {
          if (!v.is_string()) bad(fmt::format("__metadata__ field '{}' is not a string", k));
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      const auto where = fmt::format("tensor '{}'", name);
      if (!entry.is_object()) bad(where + " is not a JSON object");
      TensorInfo t;
      const auto dtype = entry.find("dtype");
      if (dtype == entry.end() || !dtype->is_string())
        bad(where + ": 'dtype' missing or not a string");
      const auto d = dtype_from_name(dtype->get<std::string>());
      if (!d)
        bad(
            fmt::format("{}: unknown or unsupported dtype '{}' (supported: F64 F32 F16 BF16 I64 "
                        "I32 I16 I8 U8 BOOL)",
                        where, dtype->get<std::string>()));
      t.dtype = *d;
      const auto shape = entry.find("shape");
      if (shape == entry.end() || !shape->is_array())
        bad(where + ": 'shape' missing or not an array");
      // numel in bytes, with every product checked against overflow.
      uint64_t bytes = dtype_size(t.dtype);
      for (const auto& dim : *shape) {
        if (!dim.is_number_unsigned() && !(dim.is_number_integer() && dim.get<int64_t>() >= 0))
          bad(fmt::format("{}: shape {} has an entry that is not a non-negative integer", where,
                          shape->dump()));
        const auto v = dim.get<uint64_t>();
        if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            (v != 0 && bytes > std::numeric_limits<uint64_t>::max() / v))
          bad(fmt::format("{}: shape {} overflows", where, shape->dump()));
        bytes *= v;
        t.shape.push_back(static_cast<int64_t>(v));
      }
      const auto offsets = entry.find("data_offsets");
      if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
          !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
        bad(where + ": 'data_offsets' must be two non-negative integers");
      const auto begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
      if (begin > end || end > buffer)
        bad(fmt::format("{}: data_offsets [{}, {}] out of bounds (data buffer is {} bytes)", where,
                        begin, end, buffer));
      if (end - begin != bytes)
        bad(
            fmt::format("{}: shape {} x {} ({} bytes) does not match data_offsets [{}, {}] "
                        "({} bytes)",
                        where, shape->dump(), dtype_name(t.dtype), bytes, begin, end, end - begin));
      t.begin = data_start + begin;
      t.end = data_start + end;
      spans.push_back({{begin, end}, name});
      tensors_.emplace(name, std::move(t));
    }
    // The tensors must tile the buffer: sorted by offset, each starts where the previous ended.
    std::sort(spans.begin(), spans.end());
    uint64_t at = 0;
    for (std::size_t i = 0; i < spans.size(); ++i) {
      const auto& [range, name] = spans[i];
      if (range.first < at)
        bad(fmt::format("tensor '{}' (data_offsets [{}, {}]) overlaps tensor '{}'", name,
                        range.first, range.second, spans[i - 1].second));
      if (range.first > at)
        bad(
            fmt::format("hole in the data buffer: bytes [{}, {}) before tensor '{}' belong to no "
                        "tensor",
                        at, range.first, name));
      at = range.second;
    }
    // Bytes after the last tensor: the reference reader rejects them too
    // (MetadataIncompleteBuffer), and here they would be data nobody reads, e.g. a file appended
    // to another or a botched copy, so they are an error rather than ignored.
    if (at != buffer)
      bad(fmt::format(
          "{} trailing bytes after the last tensor's data: the data buffer holds {} bytes but "
          "the tensors cover {}",
          buffer - at, buffer, at));
  }

  // The data buffer [data_start, file_size) against the checksum in __metadata__, if any.
  void verify_checksum(uint64_t data_start, uint64_t file_size) const {
    const auto sum = metadata_.find(kChecksumKey), bytes = metadata_.find(kBytesKey);
    if (sum == metadata_.end() && bytes == metadata_.end()) return;
    if (sum == metadata_.end() || bytes == metadata_.end())
      bad(fmt::format("__metadata__ has '{}' but not '{}' (both or neither)",
                      sum == metadata_.end() ? kBytesKey : kChecksumKey,
                      sum == metadata_.end() ? kChecksumKey : kBytesKey));
    auto parse = [&](const std::string& key, const std::string& text, int base) {
      uint64_t v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size())
        bad(fmt::format("__metadata__ field '{}' = '{}' is not a {} number", key, text,
                        base == 16 ? "hexadecimal" : "decimal"));
      return v;
    };
    const uint64_t want = parse(kChecksumKey, sum->second, 16);
    const uint64_t length = parse(kBytesKey, bytes->second, 10);
    if (length != file_size - data_start)
      bad(fmt::format("__metadata__ records {} bytes of tensor data, the file holds {}", length,
                      file_size - data_start));
    std::ifstream is(path_, std::ios::binary);
    GFNLM_CHECK(is.good(), "cannot open '{}'", path_.string());
    is.seekg(static_cast<std::streamoff>(data_start));
    std::vector<char> chunk(1 << 20);
    uint64_t h = kFnv1a64Basis, left = length;
    while (left > 0) {
      const auto n = static_cast<std::streamsize>(std::min<uint64_t>(left, chunk.size()));
      is.read(chunk.data(), n);
      if (is.gcount() != n) bad("short read of the tensor data (file changed while reading?)");
      h = fnv1a64(std::string_view(chunk.data(), static_cast<std::size_t>(n)), h);
      left -= static_cast<uint64_t>(n);
    }
    if (h != want)
      bad(fmt::format(
          "checksum mismatch, the tensor data is corrupted (FNV-1a 64 {:016x}, __metadata__ "
          "records {:016x})",
          h, want));
  }

  std::filesystem::path path_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: its shape and float values (row-major); the data is borrowed.
struct TensorView {
  std::vector<int64_t> shape;
  std::span<const float> data;
};

// Writes float tensors as a safetensors file (stored as `dtype`: F32, F16 or BF16), atomically.
// Tensors are laid out in name order; the header is padded with spaces to a multiple of 8 bytes
// so the data is aligned, as the reference writer does. record_checksum adds the data buffer's
// FNV-1a 64 and length to __metadata__ (see the top), which SafetensorsFile::open verifies.
inline void write_safetensors(const std::filesystem::path& path,
                              const std::map<std::string, TensorView>& tensors,
                              const std::map<std::string, std::string>& metadata = {},
                              Dtype dtype = Dtype::F32, bool record_checksum = false) {
  GFNLM_CHECK(dtype == Dtype::F32 || dtype == Dtype::F16 || dtype == Dtype::BF16,
              "write_safetensors('{}'): dtype {} not supported for writing (F32, F16, BF16)",
              path.string(), dtype_name(dtype));
  // The data buffer in pieces, each as stored: hashed first (record_checksum), then written.
  auto for_each_piece = [&](const auto& use) {
    std::vector<uint16_t> half;
    for (const auto& [name, t] : tensors) {
      if (dtype == Dtype::F32) {
        use(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
        continue;
      }
      half.resize(t.data.size());
      for (std::size_t i = 0; i < half.size(); ++i)
        half[i] = dtype == Dtype::F16 ? float_to_half(t.data[i]) : float_to_bf16(t.data[i]);
      use(reinterpret_cast<const char*>(half.data()), half.size() * 2);
    }
  };
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty() || record_checksum) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    GFNLM_CHECK(!name.empty() && name != "__metadata__",
                "write_safetensors('{}'): invalid tensor name '{}'", path.string(), name);
    int64_t numel = 1;
    for (const auto d : t.shape) {
      GFNLM_CHECK(d >= 0, "write_safetensors('{}'): tensor '{}' has negative dimension {}",
                  path.string(), name, d);
      numel *= d;
    }
    GFNLM_CHECK(static_cast<std::size_t>(numel) == t.data.size(),
                "write_safetensors('{}'): tensor '{}' has shape of {} values but {} given",
                path.string(), name, numel, t.data.size());
    const auto bytes = static_cast<uint64_t>(numel) * dtype_size(dtype);
    header[name] = {{"dtype", dtype_name(dtype)},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (record_checksum) {
    uint64_t h = kFnv1a64Basis;
    for_each_piece([&](const char* p, std::size_t n) { h = fnv1a64(std::string_view(p, n), h); });
    header["__metadata__"][SafetensorsFile::kChecksumKey] = fmt::format("{:016x}", h);
    header["__metadata__"][SafetensorsFile::kBytesKey] = std::to_string(offset);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_file_atomically(path, [&](std::ostream& os) {
    const uint64_t n = text.size();
    os.write(reinterpret_cast<const char*>(&n), 8);
    os.write(text.data(), static_cast<std::streamsize>(text.size()));
    for_each_piece(
        [&](const char* p, std::size_t n) { os.write(p, static_cast<std::streamsize>(n)); });
  });
}

}  // namespace gfnlm
