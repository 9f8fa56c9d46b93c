#pragma once
// The example programs' place in a data-parallel run (issue 21, docs/distributed.md): under
// `mpirun -np N` each process is one rank of an MpiCommunicator (programs built with GFNLM_MPI),
// the GFlowNet phase splits every step's queries over the ranks, and rank 0 alone prints and
// writes results. A program built without MPI but started as one of several ranks says so and
// stops, rather than running N identical copies that race on the same output files.
#include "program.hpp"

#include <gfnlm/core/error.hpp>
#include <gfnlm/distributed/communicator.hpp>
#if defined(GFNLM_WITH_MPI)
#include <gfnlm/distributed/mpi.hpp>
#endif

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace gfnlm::program {

// The world size a launcher announced in the environment (Open MPI, MPICH / PMI, Slurm), or 1.
inline int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"})
    if (const char* value = std::getenv(name)) {
      const int n = std::atoi(value);
      if (n > 1) return n;
    }
  return 1;
}

// Ranks other than 0 stop printing (stdout and stderr to /dev/null); their errors still reach
// the terminal through error_fd() (program::run).
inline void mute_unless_root(const Communicator& world) {
  if (world.rank() == 0) return;
  error_fd() = ::dup(STDERR_FILENO);
  const int null_fd = ::open("/dev/null", O_WRONLY);
  GFNLM_CHECK(null_fd >= 0 && error_fd() >= 0, "rank {}: cannot mute its output", world.rank());
  ::dup2(null_fd, STDOUT_FILENO);
  ::dup2(null_fd, STDERR_FILENO);
  ::close(null_fd);
}

inline std::unique_ptr<Communicator> make_world() {
#if defined(GFNLM_WITH_MPI)
  auto world = std::make_unique<MpiCommunicator>();
  mute_unless_root(*world);
  return world;
#else
  const int announced = launcher_world_size();
  GFNLM_CHECK(announced == 1,
              "started as one of {} ranks (mpirun?), but this program was built without MPI: "
              "configure with -DGFNLM_MPI=ON (apt-get install libopenmpi-dev openmpi-bin) for "
              "data-parallel runs, or run it as one process",
              announced);
  return std::make_unique<SingleProcess>();
#endif
}

// program::run with the world made first and handed to the body. A rank that fails aborts the
// whole run (MPI_Abort): the other ranks may be waiting for it in a collective.
inline int run_ranked(std::string_view name, const std::function<int(Communicator&)>& body) {
  std::unique_ptr<Communicator> world;
  const int status = run(name, [&] {
    world = make_world();
    return body(*world);
  });
#if defined(GFNLM_WITH_MPI)
  if (status != 0 && world && world->size() > 1)
    static_cast<MpiCommunicator&>(*world).abort(status);
#endif
  return status;
}

}  // namespace gfnlm::program
