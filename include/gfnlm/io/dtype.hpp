#pragma once
// Element types of stored tensors and their conversion to float. F16 and BF16 are converted bit
// by bit (exact: every half and bfloat16 value is a float), and back with round-to-nearest-even,
// so a written-then-read tensor equals the float rounded once.
#include <gfnlm/core/error.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace gfnlm {

static_assert(std::endian::native == std::endian::little,
              "gfnlm's file formats are little-endian; big-endian hosts are not supported");

enum class Dtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

inline std::string_view dtype_name(Dtype d) {
  switch (d) {
    case Dtype::F64:
      return "F64";
    case Dtype::F32:
      return "F32";
    case Dtype::F16:
      return "F16";
    case Dtype::BF16:
      return "BF16";
    case Dtype::I64:
      return "I64";
    case Dtype::I32:
      return "I32";
    case Dtype::I16:
      return "I16";
    case Dtype::I8:
      return "I8";
    case Dtype::U8:
      return "U8";
    case Dtype::BOOL:
      return "BOOL";
  }
  return "?";
}

inline std::optional<Dtype> dtype_from_name(std::string_view name) {
  for (const auto d : {Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64, Dtype::I32,
                       Dtype::I16, Dtype::I8, Dtype::U8, Dtype::BOOL})
    if (dtype_name(d) == name) return d;
  return std::nullopt;
}

inline std::size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::F64:
    case Dtype::I64:
      return 8;
    case Dtype::F32:
    case Dtype::I32:
      return 4;
    case Dtype::F16:
    case Dtype::BF16:
    case Dtype::I16:
      return 2;
    case Dtype::I8:
    case Dtype::U8:
    case Dtype::BOOL:
      return 1;
  }
  return 0;
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / nan (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalise into a float exponent.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3FF) << 13);
  }
  return std::bit_cast<float>(bits);
}

inline uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u)  // inf or nan
    return sign | 0x7C00 | (abs > 0x7F800000u ? 0x200 : 0);
  if (abs >= 0x477FF000u) return sign | 0x7C00;  // rounds past 65504: inf
  if (abs < 0x38800000u) {                       // below the smallest normal half: subnormal
    if (abs < 0x33000001u) return sign;          // rounds to zero (<= 2^-25)
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7FFFFF) | 0x800000;
    const uint32_t shift = 126 - e;  // 14 + (113 - e)...: puts the value in units of 2^-24
    uint32_t v = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (v & 1))) ++v;
    return sign | static_cast<uint16_t>(v);
  }
  uint32_t v = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (v & 1))) ++v;  // may carry into the exponent: fine
  return sign | static_cast<uint16_t>(v);
}

inline float bf16_to_float(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

inline uint16_t float_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  const uint32_t rounding = 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

// Converts `count` stored elements of type d at `src` (any alignment) to float.
inline void convert_to_float(Dtype d, const char* src, std::size_t count, float* dst) {
  auto each = [&]<class T>(auto convert) {
    for (std::size_t i = 0; i < count; ++i) {
      T v;
      std::memcpy(&v, src + i * sizeof(T), sizeof(T));
      dst[i] = convert(v);
    }
  };
  auto cast = [](auto v) { return static_cast<float>(v); };
  switch (d) {
    case Dtype::F64:
      return each.template operator()<double>(cast);
    case Dtype::F32:
      return each.template operator()<float>(cast);
    case Dtype::F16:
      return each.template operator()<uint16_t>(half_to_float);
    case Dtype::BF16:
      return each.template operator()<uint16_t>(bf16_to_float);
    case Dtype::I64:
      return each.template operator()<int64_t>(cast);
    case Dtype::I32:
      return each.template operator()<int32_t>(cast);
    case Dtype::I16:
      return each.template operator()<int16_t>(cast);
    case Dtype::I8:
      return each.template operator()<int8_t>(cast);
    case Dtype::U8:
      return each.template operator()<uint8_t>(cast);
    case Dtype::BOOL:
      return each.template operator()<uint8_t>([](uint8_t v) { return v ? 1.0f : 0.0f; });
  }
}

}  // namespace gfnlm
