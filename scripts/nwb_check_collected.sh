#!/usr/bin/env bash
# nwbinspector (DANDI config) on every NWB file spikelab wrote during the tests: the tests copy
# what they write into $SPIKELAB_NWB_COLLECT (spikelab_datasets::NwbTestDir / collect_nwb;
# scripts/test.sh sets it). Files the tests built by hand or with pynwb (no spikelab
# /general/source_script) are left out. Each file first gets the metadata of
# docs/nwb_metadata.example.toml where it has none (subject, session, imaging location, spike
# time resolution), as a user makes a file DANDI-ready with `spikelab annotate`; then any
# CRITICAL or BEST_PRACTICE_VIOLATION message fails. Needs target/release/spikelab.
#     bash scripts/nwb_check_collected.sh FOLDER
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
py=${SPIKELAB_PYTHON:-$PWD/.venv/bin/python}
mapfile -t files < <("$py" scripts/nwbinspector_check.py --list-spikelab "$dir")
total=$(find "$dir" -name '*.nwb' | wc -l)
if [ "${#files[@]}" -eq 0 ]; then
    echo "nwb_check_collected: no NWB file written by spikelab in $dir ($total .nwb files):" \
        "the tests write dozens, so the collection is broken" >&2
    exit 1
fi
for f in "${files[@]}"; do
    target/release/spikelab annotate "$f" --nwb-meta docs/nwb_metadata.example.toml \
        --in-place > /dev/null
done
echo "nwb_check_collected: ${#files[@]} NWB files written by spikelab in the tests ($total collected)"
"$py" scripts/nwbinspector_check.py "${files[@]}" > "$dir.json"
