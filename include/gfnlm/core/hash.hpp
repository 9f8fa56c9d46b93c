#pragma once
// FNV-1a, 64 bits: a hash that is the same on every platform and in every version, so it can name
// cache files, key queries across processes (gfn/query_key.hpp) and checksum files
// (core/sealed_file.hpp). It is not cryptographic: it catches accidents (a flipped bit, a cut
// copy), not an adversary.
#include <cstdint>
#include <string_view>

namespace gfnlm {

inline constexpr uint64_t kFnv1a64Basis = 0xcbf29ce484222325ULL;

// `h` continues a hash: fnv1a64(b, fnv1a64(a)) == fnv1a64(a + b), so a large file can be hashed in
// pieces.
inline uint64_t fnv1a64(std::string_view bytes, uint64_t h = kFnv1a64Basis) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

}  // namespace gfnlm
