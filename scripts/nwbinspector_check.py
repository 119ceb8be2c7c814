"""Runs nwbinspector (PyPI 0.7) with DANDI's configuration on NWB files or folders.

Prints one JSON object: {"files": N, "messages": [{"file", "check", "importance", "location",
"message"}, ...]} with every message of every importance, and exits with status 1 when any
message is CRITICAL or BEST_PRACTICE_VIOLATION (also when pynwb's validation fails, which
nwbinspector reports as CRITICAL). Used by the NWB tests (crates/spikelab-data/tests/
nwb_inspector.rs, tests/cli_nwb.rs); needs the .venv of scripts/setup_python.sh.

    .venv/bin/python scripts/nwbinspector_check.py FILE_OR_FOLDER [...]
"""
import json
import pathlib
import sys

from nwbinspector import Importance, inspect_all, load_config

config = load_config("dandi")
files = []
for arg in sys.argv[1:]:
    p = pathlib.Path(arg)
    files += sorted(p.rglob("*.nwb")) if p.is_dir() else [p]
if not files:
    sys.exit(f"nwbinspector_check: no .nwb files in {sys.argv[1:]}")

messages = []
for f in files:
    for m in inspect_all(path=f, config=config, progress_bar=False):
        if m is None:
            continue
        messages.append(
            {
                "file": str(f),
                "check": m.check_function_name,
                "importance": m.importance.name,
                "location": m.location,
                "message": m.message,
            }
        )
print(json.dumps({"files": len(files), "messages": messages}, indent=1))
bad = {Importance.CRITICAL.name, Importance.BEST_PRACTICE_VIOLATION.name, "ERROR", "PYNWB_VALIDATION"}
sys.exit(1 if any(m["importance"] in bad for m in messages) else 0)
