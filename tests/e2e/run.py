"""run.py - runs every test_* function of tests/e2e/test_*.py and prints one line per test
and a last line "e2e: N passed, N failed". Arguments filter test names by substring."""
import importlib.util
import os
import sys
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import harness  # noqa: E402


def main():
    filters = sys.argv[1:]
    passed = failed = skipped = 0
    for fn in sorted(os.listdir(here)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fn[:-3], os.path.join(here, fn))
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            failed += 1
            print("  FAIL %s (import)\n%s" % (fn, traceback.format_exc()), flush=True)
            continue
        for name in [n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]:
            full = "%s::%s" % (fn[:-3], name)
            if filters and not any(f in full for f in filters):
                continue
            t0 = time.time()
            try:
                getattr(mod, name)()
                passed += 1
                print("  ok   %s (%.2fs)" % (full, time.time() - t0), flush=True)
            except harness.Skip as e:
                skipped += 1
                print("  skip %s: %s" % (full, e), flush=True)
            except Exception:
                failed += 1
                print("  FAIL %s (%.2fs)\n%s" % (full, time.time() - t0, traceback.format_exc()), flush=True)
        teardown = getattr(mod, "teardown_module", None)
        if teardown:
            teardown()
    if skipped:
        print("e2e: %d skipped (%s)" % (skipped, "not for this engine"), flush=True)
    print("e2e: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
