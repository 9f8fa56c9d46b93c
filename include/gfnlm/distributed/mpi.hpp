#pragma once
// MpiCommunicator: the Communicator over MPI_COMM_WORLD, for CPU ranks (host buffers). Include it
// only in programs built with GFNLM_MPI (CMake target gfnlm::mpi links MPI::MPI_CXX); the rest of
// the library never names MPI. Launch with `mpirun -np N program ...` (docs/distributed.md).
//
// The first MpiCommunicator built in a process initialises MPI (MPI_THREAD_FUNNELED: only the
// thread that built it communicates; OpenMP threads inside a rank do not) and finalises it when
// destroyed; one built while MPI is already initialised (by the user) leaves finalising to them.
#include <gfnlm/core/error.hpp>
#include <gfnlm/distributed/communicator.hpp>

#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace gfnlm {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialised = 0;
    check(MPI_Initialized(&initialised), "MPI_Initialized");
    if (!initialised) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
      GFNLM_CHECK(provided >= MPI_THREAD_FUNNELED,
                  "MPI: the runtime offers thread level {} below MPI_THREAD_FUNNELED ({})",
                  provided, int(MPI_THREAD_FUNNELED));
    }
    // Errors come back as codes (checked below) rather than aborting every rank at once.
    check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() override {
    if (!owns_mpi_) return;
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(std::span<float> values) override {
    reduce(values.data(), values.size(), MPI_FLOAT);
  }
  void all_reduce_sum(std::span<double> values) override {
    reduce(values.data(), values.size(), MPI_DOUBLE);
  }
  void broadcast(std::span<std::byte> bytes, int root) override {
    for (std::size_t done = 0; done < bytes.size();) {
      const int count = chunk(bytes.size() - done);
      check(MPI_Bcast(bytes.data() + done, count, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      done += std::size_t(count);
    }
  }
  std::vector<std::vector<std::byte>> all_gather(std::span<const std::byte> record) override {
    const long long mine = static_cast<long long>(record.size());
    std::vector<long long> sizes(static_cast<std::size_t>(size_), 0);
    check(MPI_Allgather(&mine, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD),
          "MPI_Allgather");
    std::vector<int> counts(static_cast<std::size_t>(size_)), offsets(counts.size());
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      GFNLM_CHECK(total + sizes[std::size_t(r)] <= INT_MAX,
                  "MPI all_gather: {} bytes in all, over MPI_Allgatherv's int offsets",
                  total + sizes[std::size_t(r)]);
      counts[std::size_t(r)] = int(sizes[std::size_t(r)]);
      offsets[std::size_t(r)] = int(total);
      total += sizes[std::size_t(r)];
    }
    std::vector<std::byte> all(static_cast<std::size_t>(total));
    check(MPI_Allgatherv(record.data(), int(mine), MPI_BYTE, all.data(), counts.data(),
                         offsets.data(), MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::vector<std::byte>> out(counts.size());
    for (int r = 0; r < size_; ++r)
      out[std::size_t(r)].assign(all.begin() + offsets[std::size_t(r)],
                                 all.begin() + offsets[std::size_t(r)] + counts[std::size_t(r)]);
    return out;
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  // Aborts every rank (MPI_Abort): for a rank that must stop while others may wait in a
  // collective; the exit code reaches mpirun.
  [[noreturn]] void abort(int code) const {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::abort();
  }

 private:
  static void check(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int len = 0;
    MPI_Error_string(code, text, &len);
    fail("MPI: {} failed: {}", call, std::string(text, std::size_t(len)));
  }
  // MPI counts are int: a buffer over 2^31 elements goes in pieces.
  static int chunk(std::size_t left) { return left > std::size_t(INT_MAX) ? INT_MAX : int(left); }

  template <class T>
  void reduce(T* data, std::size_t n, MPI_Datatype type) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t done = 0; done < n;) {
      const int count = chunk(n - done);
      check(MPI_Allreduce(MPI_IN_PLACE, data + done, count, type, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
      done += std::size_t(count);
    }
    all_reduced_bytes_ += n * sizeof(T);
    all_reduce_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  int rank_ = 0;
  int size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace gfnlm
