#!/usr/bin/env bash
# The test command (README, .ci/run): installs prerequisites, builds, runs every test (unit tests and
# integration tests against real peers on loopback), and prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh

results="$(pwd)/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"
set +e
dotnet test HikShareGateway.sln --nologo -c Release --no-restore \
  --logger "trx;LogFilePrefix=results" --results-directory "$results" \
  --blame-hang --blame-hang-timeout 10m -- RunConfiguration.TreatNoTestsAsError=true
rc=$?
set -e

# One closing line in the plain form CI reads: "N passed, N failed[, N skipped]".
python3 - "$results" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
p = f = s = 0
for t in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    c = ET.parse(t).getroot().find(".//{*}Counters")
    if c is not None:
        p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
        s += int(c.get("notExecuted", 0))
print(f"Tests: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
if p == 0:
    sys.exit(1)
PY
exit $rc
