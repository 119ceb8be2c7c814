"""Runs nwbinspector (PyPI 0.7) with DANDI's configuration on NWB files or folders.

Prints one JSON object: {"files": N, "messages": [{"file", "check", "importance", "location",
"message"}, ...]} with every message of every importance, a summary on stderr, and exits with
status 1 when any message is CRITICAL or BEST_PRACTICE_VIOLATION, or pynwb cannot read a file
(an ERROR "During io.read()"). An exception inside one of nwbinspector's own checks (an ERROR
"During evaluation of ...", e.g. on a units table whose units have no spikes) is reported, not
failed on. Used by the NWB tests (crates/spikelab-data/tests/nwb_inspector.rs,
tests/cli_nwb.rs) and by scripts/nwb_check_collected.sh; needs the .venv of
scripts/setup_python.sh.

    .venv/bin/python scripts/nwbinspector_check.py FILE_OR_FOLDER [...]
    .venv/bin/python scripts/nwbinspector_check.py --list-spikelab FOLDER

--list-spikelab prints the .nwb files of FOLDER that spikelab wrote (their
/general/source_script@file_name is "spikelab"), one per line, and checks nothing.
"""
import json
import pathlib
import sys


def nwb_files(args):
    files = []
    for arg in args:
        p = pathlib.Path(arg)
        files += sorted(p.rglob("*.nwb")) if p.is_dir() else [p]
    return files


def written_by_spikelab(path):
    import h5py

    try:
        with h5py.File(path, "r") as f:
            ds = f.get("general/source_script")
            return ds is not None and ds.attrs.get("file_name") == "spikelab"
    except OSError:
        return False


if sys.argv[1:2] == ["--list-spikelab"]:
    for f in nwb_files(sys.argv[2:]):
        if written_by_spikelab(f):
            print(f)
    sys.exit(0)

from nwbinspector import Importance, inspect_all, load_config  # noqa: E402

config = load_config("dandi")
files = nwb_files(sys.argv[1:])
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


def fails(m):
    if m["importance"] in {Importance.CRITICAL.name, Importance.BEST_PRACTICE_VIOLATION.name, "PYNWB_VALIDATION"}:
        return True
    return m["importance"] == "ERROR" and not m["check"].startswith("During evaluation of")


bad = [m for m in messages if fails(m)]
counts = {}
for m in messages:
    counts[m["importance"]] = counts.get(m["importance"], 0) + 1
print(f"nwbinspector (DANDI config): {len(files)} files, messages by importance {counts}", file=sys.stderr)
for m in bad:
    print(f"  {m['importance']} {m['check']} {m['file']} {m['location'] or ''}: {m['message'][:300]}", file=sys.stderr)
sys.exit(1 if bad else 0)
