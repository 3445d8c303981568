# ASan + UBSan build (make check runs the whole suite under it).
if(CERTO_SANITIZE)
    set(_san -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_compile_options(${_san})
    add_link_options(${_san})
    add_compile_definitions(CERTO_SANITIZED=1)
endif()
