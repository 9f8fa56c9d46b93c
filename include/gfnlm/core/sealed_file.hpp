#pragma once
// Sealed files: a payload framed by its own length and checksum, so that a flipped byte, a cut
// copy or bytes appended after the end are reported, naming the file, before a parser reads them
// as data (issue 18: bad input never crashes and is never silently ignored). Layout:
//   header   "gfnlm.sealed.v1\n" (16 bytes), payload length (u64)
//   payload  whatever the writer wrote
//   trailer  payload length (u64), FNV-1a 64 of the payload (u64), "gfnlm.sealed.end" (16 bytes)
// Integers are little-endian (core/serialize.hpp). The length sits at both ends so a damaged file
// can be told apart: the header alone knows how long the file should be (truncated: bytes
// missing; appended junk: a trailer in its place and bytes after it), and the trailer at the end
// of the file, agreeing with the file's size, shows the end is intact (the header is then the
// damaged part). A file that does not start with the header is an unsealed one: written before
// files were sealed, or not a gfnlm file at all.
#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/hash.hpp>
#include <gfnlm/core/serialize.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>

namespace gfnlm {

namespace sealed {
inline constexpr std::string_view kHeaderTag = "gfnlm.sealed.v1\n";
inline constexpr std::string_view kTrailerTag = "gfnlm.sealed.end";
inline constexpr uint64_t kHeaderBytes = 16 + 8;
inline constexpr uint64_t kTrailerBytes = 8 + 8 + 16;
inline constexpr uint64_t kOverhead = kHeaderBytes + kTrailerBytes;

inline uint64_t load_u64(const char* bytes) {
  uint64_t v;
  std::memcpy(&v, bytes, 8);
  return v;
}
}  // namespace sealed

// Writes what `write` produces as the payload of a sealed file at `path`, atomically
// (core/atomic_file.hpp). The payload is buffered in memory: its length goes in the header.
// `what` names the kind of file in errors ("sampler checkpoint").
inline void write_sealed_file(const std::filesystem::path& path, std::string_view what,
                              const std::function<void(std::ostream&)>& write) {
  std::ostringstream buffer;
  write(buffer);
  GFNLM_CHECK(buffer.good(), "writing {} '{}' failed while serialising it", what, path.string());
  const std::string payload = std::move(buffer).str();
  const uint64_t length = payload.size();
  write_file_atomically(path, [&](std::ostream& os) {
    os.write(sealed::kHeaderTag.data(), static_cast<std::streamsize>(sealed::kHeaderTag.size()));
    write_pod<uint64_t>(os, length);
    os.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    write_pod<uint64_t>(os, length);
    write_pod<uint64_t>(os, fnv1a64(payload));
    os.write(sealed::kTrailerTag.data(), static_cast<std::streamsize>(sealed::kTrailerTag.size()));
  });
}

// The payload of a sealed file, verified: the file opens, has the header, its size is what the
// header says, the trailer agrees and the checksum matches. Every failure is an Error naming the
// file and `what`, and saying which of those went wrong.
inline std::string read_sealed_file(const std::filesystem::path& path, std::string_view what) {
  const std::string name = path.string();
  std::ifstream is(path, std::ios::binary);
  GFNLM_CHECK(is.good(), "cannot open {} '{}'", what, name);
  is.seekg(0, std::ios::end);
  const auto end = is.tellg();
  GFNLM_CHECK(end >= 0, "cannot read {} '{}': its size is unknown", what, name);
  const auto size = static_cast<uint64_t>(end);
  auto read_at = [&](uint64_t offset, uint64_t count) {
    std::string bytes(count, '\0');
    is.clear();
    is.seekg(static_cast<std::streamoff>(offset));
    is.read(bytes.data(), static_cast<std::streamsize>(count));
    GFNLM_CHECK(is.gcount() == static_cast<std::streamsize>(count),
                "{} '{}': short read of {} bytes at offset {} (file changed while reading?)", what,
                name, count, offset);
    return bytes;
  };
  // The trailer at the very end of the file, if it is one that fits the file's size.
  bool tail_intact = false;
  uint64_t tail_length = 0;
  if (size >= sealed::kOverhead) {
    const auto tail = read_at(size - sealed::kTrailerBytes, sealed::kTrailerBytes);
    tail_length = sealed::load_u64(tail.data());
    tail_intact = std::string_view(tail).substr(16) == sealed::kTrailerTag &&
                  tail_length == size - sealed::kOverhead;
  }
  const auto head = read_at(0, std::min<uint64_t>(size, sealed::kHeaderBytes));
  if (!std::string_view(head).starts_with(sealed::kHeaderTag)) {
    if (tail_intact)
      fail("'{}': {} is corrupted: its checksum header is damaged (the trailer is intact)", name,
           what);
    fail(
        "'{}' has no gfnlm checksum trailer: written by an older gfnlm or not a gfnlm file; a {} "
        "is now written with its length and checksum, so write it again with this version",
        name, what);
  }
  if (head.size() < sealed::kHeaderBytes)
    fail("'{}': {} is truncated: {} bytes, shorter than the {}-byte checksum header and trailer",
         name, what, size, sealed::kOverhead);
  const uint64_t length = sealed::load_u64(head.data() + 16);
  if (tail_intact && length != tail_length)
    fail(
        "'{}': {} is corrupted: the checksum header records a payload of {} bytes, the trailer "
        "(which fits the file's size) {}",
        name, what, length, tail_length);
  if (!tail_intact) {
    // Trust the header's length to say what is wrong with the end of the file.
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    const uint64_t expected = length > max - sealed::kOverhead ? max : length + sealed::kOverhead;
    if (size < expected)
      fail(
          "'{}': {} is truncated: {} bytes missing (its header records a payload of {} bytes, so "
          "the file should be {} bytes; it is {})",
          name, what, expected - size, length, expected, size);
    if (size > expected) {
      const auto trailer = read_at(expected - sealed::kTrailerBytes, sealed::kTrailerBytes);
      if (std::string_view(trailer).substr(16) == sealed::kTrailerTag &&
          sealed::load_u64(trailer.data()) == length)
        fail(
            "'{}': {} has {} trailing bytes after its checksum trailer (the file should be {} "
            "bytes; it is {})",
            name, what, size - expected, expected, size);
    }
    fail("'{}': {} is corrupted: its checksum trailer is damaged", name, what);
  }
  std::string payload = read_at(sealed::kHeaderBytes, length);
  const auto tail = read_at(size - sealed::kTrailerBytes, sealed::kTrailerBytes);
  const uint64_t recorded = sealed::load_u64(tail.data() + 8), actual = fnv1a64(payload);
  if (recorded != actual)
    fail(
        "'{}': checksum mismatch, the file is corrupted ({}: the payload's FNV-1a 64 is {:016x}, "
        "the trailer records {:016x})",
        name, what, actual, recorded);
  return payload;
}

// The verified payload as a stream to parse (the string is moved in, not copied).
inline std::istringstream open_sealed_file(const std::filesystem::path& path,
                                           std::string_view what) {
  return std::istringstream(read_sealed_file(path, what), std::ios::binary);
}

// After a parser has read a sealed payload: it must have read all of it. Bytes left over are
// corruption that happens to have the right checksum (or a payload of another version): an
// error, never ignored.
inline void require_consumed(std::istream& is, const std::filesystem::path& path,
                             std::string_view what) {
  if (is.peek() == std::char_traits<char>::eof()) {
    is.clear();
    return;
  }
  const auto left = stream_bytes_left(is);
  fail("'{}': {} holds {} bytes after its last field (written by another version, or corrupted)",
       path.string(), what, left ? fmt::format("{}", *left) : std::string("more"));
}

}  // namespace gfnlm
