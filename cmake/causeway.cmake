# causeway_library(NAME DIR [DEPS...]): one library target per source folder, built from every
# .cc directly in DIR (new files need no CMake edits, so parallel work never collides here).
function(causeway_library name dir)
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.cc)
  if(NOT sources)
    return()  # a folder whose first files are still being written
  endif()
  add_library(${name} STATIC ${sources})
  target_link_libraries(${name} PUBLIC causeway_base ${ARGN})
endfunction()

# causeway_test(NAME DIR [DEPS...]): one GoogleTest binary from every *_test.cc in DIR.
function(causeway_test name dir)
  if(NOT CAUSEWAY_TESTS)
    return()
  endif()
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*_test.cc)
  if(NOT sources)
    return()
  endif()
  add_executable(${name} ${sources})
  target_link_libraries(${name} PRIVATE causeway_base ${ARGN} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
endfunction()

# causeway_fuzzer(NAME SOURCE [DEPS...]): a libFuzzer target, built only with -DCAUSEWAY_FUZZ=ON.
function(causeway_fuzzer name source)
  if(NOT CAUSEWAY_FUZZ)
    return()
  endif()
  add_executable(${name} ${source})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE causeway_base ${ARGN})
endfunction()
