/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/util/buf.c and src/util/reader.c: ceilings, integers, sticky reads. */
#include <string.h>

#include "testutil.h"

static void
test_util_buf__append_and_ceiling(void **state)
{
    struct certo_buf b;
    (void)state;
    certo_buf_init(&b, 8);
    assert_int_equal(certo_buf_append_str(&b, "abcd"), CERTO_OK);
    assert_int_equal(certo_buf_printf(&b, "%d", 123), CERTO_OK);
    assert_string_equal((char *)b.data, "abcd123");
    assert_int_equal(b.len, 7);
    /* Past the ceiling: refused and the buffer released (curl dynbuf semantics). */
    assert_int_equal(certo_buf_append_str(&b, "xy"), CERTO_ETOOBIG);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    certo_buf_dispose(&b);
}

static void
test_util_buf__exact_ceiling(void **state)
{
    struct certo_buf b;
    (void)state;
    certo_buf_init(&b, 4);
    assert_int_equal(certo_buf_append(&b, "abcd", 4), CERTO_OK);
    assert_int_equal(certo_buf_append(&b, "", 0), CERTO_OK);
    assert_int_equal(certo_buf_append(&b, "e", 1), CERTO_ETOOBIG);
    certo_buf_dispose(&b);
}

static void
test_util_buf__big_endian(void **state)
{
    struct certo_buf b;
    static const unsigned char want[] = {0x12, 0x34, 0xfe, 0xed, 0xfe, 0xed, 0,
                                         0,    0,    0,    0,    0,    1,    2};
    (void)state;
    certo_buf_init(&b, 64);
    assert_int_equal(certo_buf_put_u16be(&b, 0x1234), CERTO_OK);
    assert_int_equal(certo_buf_put_u32be(&b, 0xfeedfeed), CERTO_OK);
    assert_int_equal(certo_buf_put_u64be(&b, 0x0102), CERTO_OK);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));

    struct certo_rd rd;
    certo_rd_init(&rd, b.data, b.len);
    assert_int_equal(certo_rd_u16be(&rd), 0x1234);
    assert_int_equal(certo_rd_u32be(&rd), 0xfeedfeed);
    assert_int_equal(certo_rd_u64be(&rd), 0x0102);
    assert_int_equal(certo_rd_finish(&rd), CERTO_OK);
    /* One byte too many: the reader fails and stays failed. */
    assert_null(certo_rd_bytes(&rd, 1));
    assert_int_equal(certo_rd_u32be(&rd), 0);
    assert_int_equal(certo_rd_finish(&rd), CERTO_EPARSE);
    certo_buf_dispose(&b);
}

static void
test_util_buf__reader_huge_length(void **state)
{
    static const unsigned char data[] = {1, 2, 3};
    struct certo_rd rd;
    (void)state;
    certo_rd_init(&rd, data, sizeof(data));
    assert_null(certo_rd_bytes(&rd, SIZE_MAX));
    assert_int_equal(certo_rd_finish(&rd), CERTO_EPARSE);
}

static void
test_util_buf__detach(void **state)
{
    struct certo_buf b;
    size_t len = 0;
    (void)state;
    certo_buf_init(&b, 16);
    assert_int_equal(certo_buf_append_str(&b, "hello"), CERTO_OK);
    unsigned char *p = certo_buf_detach(&b, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "hello", 5);
    assert_null(b.data);
    certo_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util_buf__append_and_ceiling),
        cmocka_unit_test(test_util_buf__exact_ceiling),
        cmocka_unit_test(test_util_buf__big_endian),
        cmocka_unit_test(test_util_buf__reader_huge_length),
        cmocka_unit_test(test_util_buf__detach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
