#!/usr/bin/env python3
"""PyTorch CPU peer: the Elephant network's fully-convolutional maths with F.conv1d (oneDNN),
on the same tiled recording as examples/calcium_speed.rs.

    spikelab calcium train /tmp/model1.safetensors --init model1.h5 --steps 0   # h5 -> safetensors
    TH=2 taskset -c 2,3 python3 calcium_torch_peer.py /tmp/model1.safetensors 10 60
    RAYON_NUM_THREADS=2 taskset -c 2,3 calcium_speed 10 60 /tmp/model1.safetensors

Arguments: weights (.safetensors, Keras layout as written by spikelab), neurons, minutes.
Needs SPIKELAB_DATASETS (the repository's datasets/ folder) and torch.
"""
import json, struct, sys, time, gzip, os
import torch, torch.nn.functional as F
torch.set_num_threads(int(os.environ.get("TH", "2")))
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
W = {}
for k, v in hdr.items():
    if k == "__metadata__": continue
    a, b = v["data_offsets"]
    W[k] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(v["shape"])
k1 = W["conv1.kernel"].permute(2, 1, 0).contiguous(); b1 = W["conv1.bias"]
k2 = W["conv2.kernel"].permute(2, 1, 0).contiguous(); b2 = W["conv2.bias"]
k3 = W["conv3.kernel"].permute(2, 1, 0).contiguous(); b3 = W["conv3.bias"]
k4 = W["dense1.kernel"]; b4 = W["dense1.bias"]
k5 = W["dense2.kernel"].reshape(14, 300).t().unsqueeze(0).contiguous(); b5 = W["dense2.bias"]
def full(z):  # [B,1,n]
    h1 = F.relu(F.conv1d(z, k1, b1))
    h2 = F.conv1d(h1, k2, b2)
    m1 = F.relu(torch.maximum(h2[:, :, :-1], h2[:, :, 1:]))
    c3 = F.conv1d(m1, k3, b3, dilation=2)
    m2 = F.relu(torch.maximum(c3[:, :, :-2], c3[:, :, 2:]))
    d = F.relu(torch.einsum("bct,cu->but", m2, k4) + b4[None, :, None])
    return F.conv1d(d, k5, b5, dilation=4)[:, 0]
rows = gzip.open(os.path.join(os.environ["SPIKELAB_DATASETS"], "spikefinder/test/4.test.calcium.csv.gz"), "rt").read().splitlines()[1:]
base = torch.tensor([float(r.split(",")[0]) for r in rows if r.split(",")[0] != ""])
neurons, frames = int(sys.argv[2]), int(float(sys.argv[3]) * 6000)
idx = (torch.arange(frames)[None, :] + 997 * torch.arange(neurons)[:, None]) % len(base)
x = base[idx]; z = ((x - x.mean(1, keepdim=True)) / (x.std(1, unbiased=False, keepdim=True) + 1e-7)).float()
with torch.inference_mode():
    full(z[:1, None, :2000])
    t0 = time.perf_counter()
    for j in range(neurons):
        for c0 in range(0, frames - 127, 65536):
            full(z[j:j + 1, None, c0:c0 + 65536 + 127])
    dt = time.perf_counter() - t0
print(f"PyTorch {torch.__version__} fully-convolutional, {torch.get_num_threads()} threads: {neurons * frames / dt:.0f} samples/s")
