#pragma once
// Bounds-checked reading of binary files held in memory. Loaders read the whole (small) file or
// header first and then parse from a ByteReader, so every read is checked against the real file
// size and a truncated or hostile file ends in a FormatError naming the file and field, never in
// a read past the end (issue 4: "validate before reading").
#include <gfnlm/core/error.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gfnlm {

// Size of a regular file, with an error naming it when it cannot be read.
inline std::uint64_t file_size_checked(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  GFNLM_CHECK(!ec, "cannot read '{}': {}", path.string(), ec.message());
  return size;
}

// The bytes [offset, offset + count) of a file; the caller has checked the range against the size.
inline std::vector<char> read_file_range(const std::filesystem::path& path, std::uint64_t offset,
                                         std::uint64_t count) {
  std::ifstream is(path, std::ios::binary);
  GFNLM_CHECK(is.good(), "cannot open '{}'", path.string());
  std::vector<char> bytes(count);
  is.seekg(static_cast<std::streamoff>(offset));
  is.read(bytes.data(), static_cast<std::streamsize>(count));
  GFNLM_CHECK(is.gcount() == static_cast<std::streamsize>(count),
              "'{}': short read of {} bytes at offset {} (file changed while reading?)",
              path.string(), count, offset);
  return bytes;
}

inline std::vector<char> read_file_bytes(const std::filesystem::path& path,
                                         std::uint64_t max_size = std::uint64_t(1) << 34) {
  const auto size = file_size_checked(path);
  GFNLM_CHECK(size <= max_size, "'{}' is {} bytes, more than the {} this loader accepts",
              path.string(), size, max_size);
  return read_file_range(path, 0, size);
}

// Little-endian reads (every supported format is little-endian, and so are our targets).
class ByteReader {
 public:
  ByteReader(std::string_view bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}

  template <class T>
  requires std::is_trivially_copyable_v<T> T read(std::string_view field) {
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string_view read_bytes(std::size_t count, std::string_view field) {
    require(count, field);
    const auto out = bytes_.substr(pos_, count);
    pos_ += count;
    return out;
  }

  // Throws unless `count` more bytes are available.
  void require(std::size_t count, std::string_view field) const {
    if (count > remaining())
      throw FormatError(
          fmt::format("'{}' is truncated: {} needs {} bytes at offset {}, only {} left", name_,
                      field, count, pos_, remaining()));
  }

  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  bool at_end() const { return pos_ == bytes_.size(); }
  const std::string& name() const { return name_; }

 private:
  std::string_view bytes_;
  std::string name_;
  std::size_t pos_ = 0;
};

}  // namespace gfnlm
