# Issue 18: what an empty CMAKE_BUILD_TYPE does (check_build_type.cmake). Single-config generators
# only: a multi-config one picks the configuration at build time.
get_property(multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
if(NOT multi_config)
  add_test(NAME install_build_type
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DGENERATOR=${CMAKE_GENERATOR}
            -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/build_type_check
            -P ${CMAKE_CURRENT_LIST_DIR}/check_build_type.cmake)
  set_tests_properties(install_build_type PROPERTIES LABELS install)
endif()
