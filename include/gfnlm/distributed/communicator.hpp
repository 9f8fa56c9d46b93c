#pragma once
// The communicator: what data-parallel training needs from the engines the field runs it on (MPI
// for CPU ranks, distributed/mpi.hpp; NCCL for GPU ranks), and nothing home-made. A run is
// `size()` processes ("ranks"), each holding a full copy of the parameters; they exchange only
// gradient sums, a few metrics and configuration fingerprints. SingleProcess is the default:
// a Sampler that is never given a communicator behaves exactly as before.
//
// Every call is collective: every rank must make the same calls in the same order with buffers
// of the same length, or the run hangs (MPI's rule). So errors that only some ranks would see
// are agreed on first (check_agreement) and raised on every rank.
//
// Layering: above core/, below gfn/ (the Sampler holds one); no lower layer includes it.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/hash.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm {

// Where the buffers handed to all_reduce_sum live. MPI here takes host memory; NCCL takes device
// memory (one GPU per rank).
enum class BufferMemory { host, device };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual BufferMemory memory() const { return BufferMemory::host; }
  // In place: every rank's buffer becomes the element-wise sum over ranks.
  virtual void all_reduce_sum(std::span<float> values) = 0;
  virtual void all_reduce_sum(std::span<double> values) = 0;
  // Every rank's buffer becomes root's (same length on every rank).
  virtual void broadcast(std::span<std::byte> bytes, int root) = 0;
  // Every rank's record, in rank order, on every rank (records may differ in length): for small
  // records, such as the rows a step adds to the replay buffer.
  virtual std::vector<std::vector<std::byte>> all_gather(std::span<const std::byte> record) = 0;
  // Waits until every rank has called it.
  virtual void barrier() = 0;
  // Bytes this communicator moved in all_reduce_sum since it was built (per rank, sent): the
  // step's communication volume, for benchmarks and docs/distributed.md.
  std::size_t all_reduced_bytes() const { return all_reduced_bytes_; }
  // Seconds spent inside all_reduce_sum (the all-reduce's share of a step).
  double all_reduce_seconds() const { return all_reduce_seconds_; }

 protected:
  std::size_t all_reduced_bytes_ = 0;
  double all_reduce_seconds_ = 0;
};

// One process: the collectives are identities.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(std::span<float>) override {}
  void all_reduce_sum(std::span<double>) override {}
  void broadcast(std::span<std::byte>, int) override {}
  std::vector<std::vector<std::byte>> all_gather(std::span<const std::byte> record) override {
    return {std::vector<std::byte>(record.begin(), record.end())};
  }
  void barrier() override {}
};

// The positions [first, last) of a step's `count` queries that `rank` of `size` takes: contiguous
// blocks, the first count % size of them one longer, so the ranks' rows concatenated in rank
// order are the step's rows in query order.
struct Shard {
  int first = 0, last = 0;
};
inline Shard shard_of(int count, int rank, int size) {
  const int base = count / size, extra = count % size;
  const int first = rank * base + std::min(rank, extra);
  return {first, first + base + (rank < extra ? 1 : 0)};
}

// Raises on every rank when any rank's `failed` is set, with that rank's message where it is this
// rank's, else naming the first failing rank: an error seen by one rank only would leave the
// others waiting in the next collective forever.
inline void raise_if_any(Communicator& comm, bool failed, const std::string& message) {
  if (comm.size() == 1) {
    if (failed) fail("{}", message);
    return;
  }
  std::vector<double> flags(std::size_t(comm.size()), 0.0);
  flags[std::size_t(comm.rank())] = failed ? 1.0 : 0.0;
  comm.all_reduce_sum(std::span<double>(flags));
  if (failed) fail("rank {} of {}: {}", comm.rank(), comm.size(), message);
  for (int r = 0; r < comm.size(); ++r)
    if (flags[std::size_t(r)] != 0.0)
      fail("rank {} of {} stopped the run (its message is in its own output); this is rank {}", r,
           comm.size(), comm.rank());
}

// The same for an exception caught on this rank (null: none): rethrown as it is in one process,
// else raised on every rank as raise_if_any does.
inline void rethrow_on_every_rank(Communicator& comm, const std::exception_ptr& error) {
  if (comm.size() == 1) {
    if (error) std::rethrow_exception(error);
    return;
  }
  std::string message;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
      message = "a non-standard exception";
    }
  }
  raise_if_any(comm, static_cast<bool>(error), message);
}

// Every rank must hold the same `description` (a configuration, a model fingerprint): compared by
// FNV-1a hash against rank 0's. `what` names it in the error, which shows this rank's text.
inline void check_agreement(Communicator& comm, std::string_view what,
                            std::string_view description) {
  if (comm.size() == 1) return;
  uint64_t mine = fnv1a64(description), root = mine;
  comm.broadcast(std::as_writable_bytes(std::span<uint64_t>(&root, 1)), 0);
  raise_if_any(comm, mine != root,
               fmt::format("the {} differs from rank 0's (hash {:016x} against {:016x}); every "
                           "rank must be started with the same one. This rank's: {}",
                           what, mine, root, description.substr(0, 400)));
}

}  // namespace gfnlm
