"""Writes the NWB schema cache that spikelab embeds in every NWB file it writes.

pynwb stores the specifications of the namespaces a file uses under `/specifications/<ns>/<version>/`
(one JSON string per source) so that readers without that schema version (matnwb, older pynwb)
can still read the file. This script copies pynwb's cache (from a file pynwb writes here) to
`crates/spikelab-data/src/io/nwb/schema/cache.json` as a list of [path, text] pairs, together with
the schemas' licence files. Run with the `.venv` of scripts/setup_python.sh:

    .venv/bin/python scripts/nwb_spec_cache.py
"""
import datetime
import json
import pathlib
import shutil
import tempfile

import h5py
import pynwb

repo = pathlib.Path(__file__).resolve().parent.parent
out = repo / "crates/spikelab-data/src/io/nwb/schema"

with tempfile.TemporaryDirectory() as d:
    path = pathlib.Path(d) / "cache.nwb"
    nwb = pynwb.NWBFile("cache", "cache", datetime.datetime.now(datetime.timezone.utc))
    with pynwb.NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    entries = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                text = obj[()]
                entries.append([name, text.decode() if isinstance(text, bytes) else text])
        f["specifications"].visititems(visit)

(out / "cache.json").write_text(json.dumps({"pynwb": pynwb.__version__, "entries": entries}, indent=0) + "\n")
schema = pathlib.Path(pynwb.__file__).parent / "nwb-schema"
shutil.copy(schema / "license.txt", out / "LICENSE-nwb-schema.txt")
shutil.copy(schema / "hdmf-common-schema/license.txt", out / "LICENSE-hdmf-common-schema.txt")
print(f"{len(entries)} specification sources from pynwb {pynwb.__version__}:", [e[0] for e in entries])
