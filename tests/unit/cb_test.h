/* cb_test.h: cmocka includes in the order cmocka needs them. */
#ifndef CB_TEST_H
#define CB_TEST_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#endif
