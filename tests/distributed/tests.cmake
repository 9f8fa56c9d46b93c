# Issue 21: the data-parallel Sampler over MPI. One program, run under `mpirun -np 2` (the
# equivalence, resume and bad-setup cases) and as one plain process (the same cases at world
# size 1, where the world-size checks of checkpoints are tested from the other side).
if(GFNLM_MPI)
  add_executable(test_distributed ${CMAKE_CURRENT_LIST_DIR}/test_data_parallel.cpp)
  target_link_libraries(test_distributed PRIVATE Catch2::Catch2 gfnlm_programs gfnlm::mpi)
  # --oversubscribe: two ranks on a machine that may report fewer slots; root (CI containers)
  # needs Open MPI's two opt-in variables.
  add_test(NAME distributed.two_ranks
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe
            $<TARGET_FILE:test_distributed>)
  add_test(NAME distributed.one_process COMMAND test_distributed)
  # A rank that failed a check may leave the other waiting in a collective: the timeout ends it.
  set_tests_properties(distributed.two_ranks distributed.one_process PROPERTIES
    LABELS distributed TIMEOUT 300
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1")
endif()
