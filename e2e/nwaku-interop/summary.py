"""Prints `area: passed/total (failed, skipped)` from pytest JUnit XML files."""

import sys
import xml.etree.ElementTree as ET


def counts(paths):
    passed = failed = skipped = 0
    for path in paths:
        for case in ET.parse(path).iter("testcase"):
            kinds = {child.tag for child in case}
            if "skipped" in kinds:
                skipped += 1
            elif kinds & {"failure", "error"}:
                failed += 1
            else:
                passed += 1
    return passed, failed, skipped


if __name__ == "__main__":
    name, paths = sys.argv[1], sys.argv[2:]
    passed, failed, skipped = counts(paths)
    print(f"{name}: {passed}/{passed + failed + skipped} passed ({failed} failed, {skipped} skipped)")
