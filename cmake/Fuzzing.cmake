# libFuzzer harnesses: the whole tree is built with coverage instrumentation plus
# ASan/UBSan, and each harness links libFuzzer's main.
if(CERTO_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "CERTO_FUZZ needs clang (CC=clang)")
    endif()
    set(_fz -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
            -fno-omit-frame-pointer)
    add_compile_options(${_fz})
    add_link_options(-fsanitize=address,undefined)
    add_compile_definitions(CERTO_FUZZING=1)
endif()
