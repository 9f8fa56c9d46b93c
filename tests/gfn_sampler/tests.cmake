gfnlm_add_test(test_gfn_sampler
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampler_kl.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_sampler_features.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_sampler_resume.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_sampler_checkpoint.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_stop_after.cpp
  LABELS gfn_sampler)

# docs/concepts.md's examples (a custom reward, a custom policy): complete programs, built and run
# as tests, and a check that the page shows exactly their code.
foreach(example docs_example docs_policy)
  add_executable(test_${example} ${CMAKE_CURRENT_LIST_DIR}/test_${example}.cpp)
  target_link_libraries(test_${example} PRIVATE gfnlm_programs)
  add_test(NAME gfn_sampler.${example} COMMAND test_${example})
  add_test(NAME gfn_sampler.${example}_matches_page
    COMMAND ${CMAKE_COMMAND} -DPAGE=${PROJECT_SOURCE_DIR}/docs/concepts.md
            -DROOT=${PROJECT_SOURCE_DIR} -DCODE=${CMAKE_CURRENT_LIST_DIR}/test_${example}.cpp
            -DOUT=${CMAKE_CURRENT_BINARY_DIR}/${example}_from_page.cpp
            -P ${CMAKE_CURRENT_LIST_DIR}/check_docs_example.cmake)
  set_tests_properties(gfn_sampler.${example} gfn_sampler.${example}_matches_page
    PROPERTIES LABELS gfn_sampler)
endforeach()

include(${CMAKE_CURRENT_LIST_DIR}/first_hour.cmake)  # issue 18
