# Passes iff building TARGET in the build tree BINARY_DIR fails AND the compiler's output contains
# every string of EXPECT, strings separated by '|': a test that a misuse is a compile error, and a
# readable one.
execute_process(COMMAND ${CMAKE_COMMAND} --build "${BINARY_DIR}" --target "${TARGET}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(out "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not:\n${out}")
endif()
string(REPLACE "|" ";" expect "${EXPECT}")
foreach(expected IN LISTS expect)
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${TARGET} failed to compile, but its output lacks '${expected}':\n${out}")
  endif()
endforeach()
message(STATUS "${TARGET} fails to compile with the expected message")
