#pragma once
// What the data-parallel Sampler exchanges between ranks (gfn/sampler.hpp, set_communicator):
// the step's gradients, summed in one all-reduce, and the rows each rank offers its replay
// buffer, gathered so that every rank adds every row in the step's query order.
#include <gfnlm/core/error.hpp>
#include <gfnlm/distributed/communicator.hpp>
#include <gfnlm/model/parameter.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <vector>

namespace gfnlm {

// Every gradient of the lists (host memory) summed over the ranks, through one staging buffer:
// one all-reduce per step, as llm.c does, since a call per tensor costs a latency each.
inline void all_reduce_gradients(Communicator& comm,
                                 std::initializer_list<const ParameterList<float>*> lists,
                                 std::vector<float>& staging) {
  std::size_t count = 0;
  for (const auto* list : lists)
    for (const auto& p : *list) count += p.size;
  staging.resize(count);
  float* at = staging.data();
  for (const auto* list : lists)
    for (const auto& p : *list) at = std::copy_n(p.grad, p.size, at);
  comm.all_reduce_sum(std::span<float>(staging));
  const float* from = staging.data();
  for (const auto* list : lists)
    for (const auto& p : *list) {
      std::copy_n(from, p.size, p.grad);
      from += p.size;
    }
}

// One row offered to the replay buffer.
struct BufferRow {
  uint64_t key = 0;
  std::span<const int32_t> actions;
  double log_r = 0;  // untempered final log R
};

// A rank's rows as one record: per row its key, length, actions and log R.
inline std::vector<std::byte> pack_buffer_rows(std::span<const BufferRow> rows) {
  std::vector<std::byte> out;
  const auto put = [&out](const void* p, std::size_t bytes) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + bytes);
  };
  for (const auto& row : rows) {
    const auto len = static_cast<int32_t>(row.actions.size());
    put(&row.key, sizeof row.key);
    put(&len, sizeof len);
    put(row.actions.data(), row.actions.size() * sizeof(int32_t));
    put(&row.log_r, sizeof row.log_r);
  }
  return out;
}

// Calls add(row) for every row of a record written by pack_buffer_rows, in order; a row longer
// than max_len or a cut record is an error.
template <class Add>
void unpack_buffer_rows(std::span<const std::byte> record, int max_len, Add&& add) {
  std::vector<int32_t> actions;
  for (std::size_t at = 0; at < record.size();) {
    const auto get = [&](void* p, std::size_t bytes) {
      GFNLM_CHECK(at + bytes <= record.size(),
                  "data-parallel Sampler: a rank's replay rows are cut short ({} of {} bytes)",
                  record.size() - at, bytes);
      std::memcpy(p, record.data() + at, bytes);
      at += bytes;
    };
    BufferRow row;
    int32_t len = 0;
    get(&row.key, sizeof row.key);
    get(&len, sizeof len);
    GFNLM_CHECK(len >= 0 && len <= max_len,
                "data-parallel Sampler: a rank sent a replay row of {} actions (max_len {})", len,
                max_len);
    actions.resize(static_cast<std::size_t>(len));
    get(actions.data(), actions.size() * sizeof(int32_t));
    get(&row.log_r, sizeof row.log_r);
    row.actions = actions;
    add(row);
  }
}

}  // namespace gfnlm
