# Generates a C file holding one file's bytes as a NUL-terminated array.
#   cmake -DIN=file -DOUT=out.c -DNAME=symbol -P embed-file.cmake
# defines: const char NAME[]; const size_t NAME_len;
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}.tmp "/* Generated from ${IN} by scripts/embed-file.cmake. Do not edit. */\n#include <stddef.h>\nextern const char ${NAME}[];\nextern const size_t ${NAME}_len;\nconst char ${NAME}[${len} + 1] = {${bytes}0x00};\nconst size_t ${NAME}_len = ${len};\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
