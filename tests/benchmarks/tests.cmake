# The benchmark driver's settings are validated before any work (issue 18's standard).
add_test(NAME benchmarks.driver_rejects_bad_settings
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/check_driver_validation.sh ${PROJECT_SOURCE_DIR}
          ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(benchmarks.driver_rejects_bad_settings PROPERTIES LABELS benchmarks)
