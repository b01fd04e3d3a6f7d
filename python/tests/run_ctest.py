"""Run the Python package's tests for ctest (tests/CMakeLists.txt): exit 77 (ctest's SKIP) with the
reason when numpy or pytest is missing."""
import os
import sys

missing = []
for mod, pkg in (("numpy", "python3-numpy"), ("pytest", "python3-pytest")):
    try:
        __import__(mod)
    except ImportError:
        missing.append(pkg)
if missing:
    print("SKIP: the Python tests need %s (apt-get install %s)" % (", ".join(missing), " ".join(missing)))
    sys.exit(77)
import pytest  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
sys.exit(pytest.main(["-q", "-rs", "-p", "no:cacheprovider", here]))
