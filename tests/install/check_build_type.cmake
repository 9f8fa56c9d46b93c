# An empty CMAKE_BUILD_TYPE on a single-config generator builds without optimisation (issue 18):
# gfnlm as the top project then picks Release and says so, and a consumer's find_package(gfnlm)
# warns. Configures only; nothing is compiled.
file(REMOVE_RECURSE "${WORK_DIR}")
# A CMAKE_BUILD_TYPE in the environment would be the default; the checks need none.
set(cmake_env ${CMAKE_COMMAND} -E env --unset=CMAKE_BUILD_TYPE ${CMAKE_COMMAND} -G "${GENERATOR}")

execute_process(COMMAND ${cmake_env} -S "${SOURCE_DIR}" -B "${WORK_DIR}/top"
  -DCMAKE_BUILD_TYPE= -DGFNLM_BUILD_TESTS=OFF -DGFNLM_BUILD_EXAMPLES=OFF
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "configuring gfnlm failed: ${rc}\n${out}${err}")
endif()
if(NOT "${out}" MATCHES "gfnlm: CMAKE_BUILD_TYPE was empty, using Release")
  message(FATAL_ERROR "gfnlm with an empty build type did not say it uses Release:\n${out}${err}")
endif()
file(STRINGS "${WORK_DIR}/top/CMakeCache.txt" cached REGEX "^CMAKE_BUILD_TYPE:")
if(NOT cached MATCHES ":STRING=Release$")
  message(FATAL_ERROR "gfnlm with an empty build type cached '${cached}', not Release")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --install "${WORK_DIR}/top" --prefix "${WORK_DIR}/prefix"
  RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "install failed: ${rc}")
endif()
set(warning "gfnlm: CMAKE_BUILD_TYPE is empty, so this build is unoptimised")
foreach(type "" Release)
  execute_process(COMMAND ${cmake_env} -S "${SOURCE_DIR}/tests/install/consumer"
    -B "${WORK_DIR}/consumer_${type}" -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
    -DCMAKE_BUILD_TYPE=${type}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "configuring the consumer (build type '${type}') failed: ${rc}\n${out}${err}")
  endif()
  string(FIND "${out}${err}" "${warning}" at)
  if(type STREQUAL "" AND at EQUAL -1)
    message(FATAL_ERROR "a consumer with an empty build type was not warned:\n${out}${err}")
  elseif(NOT type STREQUAL "" AND NOT at EQUAL -1)
    message(FATAL_ERROR "a Release consumer was warned about its build type:\n${out}${err}")
  endif()
endforeach()
message(STATUS "empty build types: gfnlm uses Release, a consumer is warned")
