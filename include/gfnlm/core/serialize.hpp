#pragma once
// Binary streams for checkpoints: little helpers that check every read, so a truncated or foreign
// file is reported with the field that failed instead of being read as garbage.
#include <gfnlm/core/error.hpp>

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

namespace gfnlm {

template <class T>
requires std::is_trivially_copyable_v<T>
void write_pod(std::ostream& os, const T& value) {
  os.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <class T>
requires std::is_trivially_copyable_v<T> T read_pod(std::istream& is, const char* field) {
  T value{};
  is.read(reinterpret_cast<char*>(&value), sizeof(T));
  GFNLM_CHECK(is.gcount() == static_cast<std::streamsize>(sizeof(T)),
              "checkpoint truncated while reading '{}'", field);
  return value;
}

template <class T>
requires std::is_trivially_copyable_v<T>
void write_array(std::ostream& os, const T* data, std::size_t count) {
  write_pod<uint64_t>(os, count);
  os.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
}

// Reads an array written by write_array into `data`, which must hold exactly `expected` items.
template <class T>
requires std::is_trivially_copyable_v<T>
void read_array(std::istream& is, T* data, std::size_t expected, const char* field) {
  const auto count = read_pod<uint64_t>(is, field);
  GFNLM_CHECK(count == expected, "checkpoint field '{}' holds {} values, expected {}", field, count,
              expected);
  is.read(reinterpret_cast<char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
  GFNLM_CHECK(is.gcount() == static_cast<std::streamsize>(count * sizeof(T)),
              "checkpoint truncated while reading '{}'", field);
}

template <class T>
requires std::is_trivially_copyable_v<T> std::vector<T> read_vector(std::istream& is,
                                                                    const char* field,
                                                                    std::size_t max_count = 1u
                                                                                            << 30) {
  const auto count = read_pod<uint64_t>(is, field);
  GFNLM_CHECK(count <= max_count, "checkpoint field '{}' claims {} values (limit {})", field, count,
              max_count);
  std::vector<T> out(count);
  is.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count * sizeof(T)));
  GFNLM_CHECK(is.gcount() == static_cast<std::streamsize>(count * sizeof(T)),
              "checkpoint truncated while reading '{}'", field);
  return out;
}

inline void write_string(std::ostream& os, const std::string& s) {
  write_array(os, s.data(), s.size());
}

inline std::string read_string(std::istream& is, const char* field) {
  auto chars = read_vector<char>(is, field, 1u << 20);
  return {chars.begin(), chars.end()};
}

// Bytes left to read in `is`, when it can tell (a file or string stream can; a pipe cannot). A
// reader compares a size a header claims with it before allocating for that size.
inline std::optional<uint64_t> stream_bytes_left(std::istream& is) {
  if (!is.good()) return std::nullopt;
  const auto at = is.tellg();
  if (at < 0) return std::nullopt;
  is.seekg(0, std::ios::end);
  const auto end = is.tellg();
  is.seekg(at);
  if (end < at || !is.good()) {
    is.clear();
    is.seekg(at);
    return std::nullopt;
  }
  return static_cast<uint64_t>(end - at);
}

}  // namespace gfnlm
