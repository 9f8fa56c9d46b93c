gfnlm_add_test(test_gfn_sampler
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampler_kl.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_sampler_features.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_sampler_resume.cpp
  LABELS gfn_sampler)

# docs/concepts.md's custom-reward example: a complete program, built and run as a test, and a
# check that the page shows exactly this code.
add_executable(test_docs_example ${CMAKE_CURRENT_LIST_DIR}/test_docs_example.cpp)
target_link_libraries(test_docs_example PRIVATE gfnlm_programs)
add_test(NAME gfn_sampler.docs_example COMMAND test_docs_example)
add_test(NAME gfn_sampler.docs_example_matches_page
  COMMAND ${CMAKE_COMMAND} -DPAGE=${PROJECT_SOURCE_DIR}/docs/concepts.md
          -DCODE=${CMAKE_CURRENT_LIST_DIR}/test_docs_example.cpp
          -DOUT=${CMAKE_CURRENT_BINARY_DIR}/docs_example_from_page.cpp
          -P ${CMAKE_CURRENT_LIST_DIR}/check_docs_example.cmake)
set_tests_properties(gfn_sampler.docs_example gfn_sampler.docs_example_matches_page
  PROPERTIES LABELS gfn_sampler)
