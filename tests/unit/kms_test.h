/* What every cmocka unit test includes, in the order cmocka needs. */
#ifndef KMS_TEST_H
#define KMS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
