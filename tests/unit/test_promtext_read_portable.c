/* The same tests against the parser built without SIMD (KMS_PROMTEXT_NO_SIMD): its portable scans. */
#include "test_promtext_read.c"
