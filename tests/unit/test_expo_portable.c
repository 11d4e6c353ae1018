/* The same tests against the parser built without SIMD (KMS_EXPO_NO_SIMD): its portable scans. */
#include "test_expo.c"
