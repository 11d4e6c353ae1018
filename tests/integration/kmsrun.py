"""Runs one integration test module for ctest: `python3 kmsrun.py test_<name>`.

Exit 0 when every test ran and passed, 1 when one failed, and 77 when none failed but one or
more skipped: ctest reports the file Skipped, not Passed, and the reasons are the last lines of
its output. A machine that cannot run a test says so; it never leaves the suite quietly green."""
import sys
import unittest

SKIPPED = 77  # the tests' SKIP_RETURN_CODE (tests/CMakeLists.txt)


def main(name):
    suite = unittest.defaultTestLoader.loadTestsFromName(name)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.skipped:
        print(f"\n{len(result.skipped)} of {result.testsRun} tests skipped:", file=sys.stderr)
        for test, why in result.skipped:
            print(f"  SKIPPED {test.id()}: {why}", file=sys.stderr)
        return SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
