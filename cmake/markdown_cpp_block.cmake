# gfnlm_markdown_cpp_block(TEXT MARKER WHERE OUT): OUT = the first ```cpp block after MARKER in
# the Markdown TEXT (its lines, ending with a newline); a missing marker or block is a fatal error
# naming WHERE. Shared by the checks that docs/concepts.md shows exactly the code the tests run
# and that the README's snippet compiles.
function(gfnlm_markdown_cpp_block text marker where out)
  string(FIND "${text}" "${marker}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${where}: marker '${marker}' not found")
  endif()
  string(SUBSTRING "${text}" ${at} -1 rest)
  string(FIND "${rest}" "```cpp\n" open)
  if(open EQUAL -1)
    message(FATAL_ERROR "${where}: no ```cpp block after '${marker}'")
  endif()
  math(EXPR start "${open} + 7")
  string(SUBSTRING "${rest}" ${start} -1 rest)
  string(FIND "${rest}" "\n```" close)
  if(close EQUAL -1)
    message(FATAL_ERROR "${where}: the ```cpp block after '${marker}' is not closed")
  endif()
  math(EXPR close "${close} + 1")
  string(SUBSTRING "${rest}" 0 ${close} block)
  set(${out} "${block}" PARENT_SCOPE)
endfunction()
