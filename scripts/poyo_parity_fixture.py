#!/usr/bin/env python3
"""Layer-by-layer parity fixture of torch-brain's POYO-1.3M for spikelab-decode.

Builds a randomly initialised POYO-1.3M (torch_brain 0.2.1, seed 0) with 20 units and 2
sessions, a hand-made batch of two windows (different spike counts, so padding and the key mask
matter), and saves on the CPU:

* ``params.safetensors``: the float32 state dict (vocabularies excluded; they go to meta.json).
  The float64 run uses exactly these values (``model.double()`` casts them).
* ``batch.safetensors``: the batch tensors and the fixed targets/weights of the loss.
* ``f64.safetensors``: float64 run, eval mode: hooked activations (prefix ``act.``), the output,
  the weighted-MSE loss and every parameter gradient of the float64 run, stored as float32
  to keep the file under 8 MiB (prefix ``grad.``).
* ``f32.safetensors``: float32 run, eval mode: hooked activations, output and loss.
* ``meta.json``: versions, configuration, vocabularies in index order, the OneCycleLR lr/beta1
  table (max_lr 0.004, total 40, pct_start 0.5, div_factor 1) and the parameter count.

Usage: ``python3 scripts/poyo_parity_fixture.py OUT_DIR`` with torch and torch_brain importable
(torch_brain imports ``ray.actor`` for a type annotation only: the script puts a two-file stub
package on ``sys.path`` when ray is missing). Hooked activation names:

* ``rotary.input|latent|output``: rotary embeddings of the three timestamp sets (B, N, 128)
* ``unit_emb``, ``token_type_emb``, ``latent_emb``, ``session_emb``: embedding lookups
* ``enc_atn``, ``enc_ffn``, ``proc.{i}.atn``, ``proc.{i}.ffn``, ``dec_atn``, ``dec_ffn``: module
  outputs BEFORE the residual addition (the residual stream is the running sum)
* ``output``: the readout (B, N_out, 2)
"""

import json
import os
import sys
import tempfile

import numpy as np


def ray_stub():
    try:
        import ray.actor  # noqa: F401

        return
    except ImportError:
        pass
    root = tempfile.mkdtemp(prefix="raystub")
    os.makedirs(os.path.join(root, "ray"))
    with open(os.path.join(root, "ray", "__init__.py"), "w") as f:
        f.write("from . import actor\n")
    with open(os.path.join(root, "ray", "actor.py"), "w") as f:
        f.write("class ActorHandle:\n    pass\n")
    sys.path.insert(0, root)


def poyo_1_3m_config(sequence_length, dim_out):
    """torch-brain `POYO` arguments of POYO-1.3M (spec: decode.md section 6.9)."""
    return dict(
        sequence_length=sequence_length,
        latent_step=0.125,
        num_latents_per_step=16,
        dim=64,
        depth=6,
        dim_head=64,
        cross_heads=2,
        self_heads=8,
        ffn_dropout=0.2,
        lin_dropout=0.4,
        atn_dropout=0.2,
        dim_out=dim_out,
    )


def make_batch(rng):
    """Two 1-s windows in POYO's tokenization (spec: decode.md section 6.1)."""
    L, latent_step, per_step = 1.0, 0.125, 16
    n_units = 20
    windows = [
        {"units": list(range(0, 12)), "n_spikes": 37, "session": 1, "n_out": 20},
        {"units": list(range(6, 14)), "n_spikes": 15, "session": 2, "n_out": 17},
    ]
    rows = []
    for w in windows:
        u = rng.choice(w["units"], size=w["n_spikes"])
        t = np.sort(rng.uniform(0.0, L, size=w["n_spikes"]))
        units = np.array(w["units"])
        # local unit k -> global vocabulary index k + 1 ("NA" is 0)
        unit_index = np.concatenate([u + 1, units + 1, units + 1])
        timestamps = np.concatenate([t, np.zeros(len(units)), np.full(len(units), L)])
        token_type = np.concatenate(
            [np.zeros(len(u)), np.ones(len(units)), np.full(len(units), 2)]
        ).astype(np.int64)
        rows.append((unit_index.astype(np.int64), timestamps, token_type))
    n_in = max(len(r[0]) for r in rows)
    n_in = ((n_in + 7) // 8) * 8
    B = len(windows)
    input_unit_index = np.zeros((B, n_in), np.int64)
    input_timestamps = np.zeros((B, n_in), np.float64)
    input_token_type = np.zeros((B, n_in), np.int64)
    input_mask = np.zeros((B, n_in), bool)
    for b, (ui, ts, tt) in enumerate(rows):
        n = len(ui)
        input_unit_index[b, :n] = ui
        input_timestamps[b, :n] = ts
        input_token_type[b, :n] = tt
        input_mask[b, :n] = True
    n_steps = int(round(L / latent_step))
    lat_t = np.repeat(np.arange(n_steps) * latent_step + latent_step / 2, per_step)
    lat_i = np.tile(np.arange(per_step), n_steps)
    latent_timestamps = np.tile(lat_t, (B, 1))
    latent_index = np.tile(lat_i, (B, 1)).astype(np.int64)
    n_out = max(w["n_out"] for w in windows)
    output_timestamps = np.zeros((B, n_out))
    output_mask = np.zeros((B, n_out), bool)
    for b, w in enumerate(windows):
        k = w["n_out"]
        output_timestamps[b, :k] = (np.arange(k) + 0.5) / k * L
        output_mask[b, :k] = True
    session_index = np.array([w["session"] for w in windows], np.int64)
    targets = rng.standard_normal((B, n_out, 2))
    weights = rng.uniform(0.1, 5.0, size=(B, n_out)) * output_mask
    unit_ids = [f"u{k}" for k in range(n_units)]
    return unit_ids, {
        "input_unit_index": input_unit_index,
        "input_timestamps": input_timestamps,
        "input_token_type": input_token_type,
        "input_mask": input_mask,
        "latent_index": latent_index,
        "latent_timestamps": latent_timestamps,
        "session_index": session_index,
        "output_timestamps": output_timestamps,
        "output_mask": output_mask,
        "targets": targets,
        "weights": weights,
    }


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    ray_stub()
    import torch
    import torch_brain
    from safetensors.torch import save_file
    from torch_brain.models import POYO

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cfg = poyo_1_3m_config(sequence_length=1.0, dim_out=2)
    model = POYO(**cfg)
    rng = np.random.default_rng(0)
    unit_ids, batch = make_batch(rng)
    model.unit_emb.initialize_vocab(unit_ids)
    model.session_emb.initialize_vocab(["s0", "s1"])
    n_params = sum(p.numel() for p in model.parameters())

    state = {
        k: v.detach().clone().contiguous()
        for k, v in model.state_dict().items()
        if isinstance(v, torch.Tensor)
    }
    save_file(state, os.path.join(out_dir, "params.safetensors"))
    save_file(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()},
        os.path.join(out_dir, "batch.safetensors"),
    )

    def run(dtype, with_grads):
        m = POYO(**cfg)
        m.unit_emb.initialize_vocab(unit_ids)
        m.session_emb.initialize_vocab(["s0", "s1"])
        m.load_state_dict(model.state_dict())
        m = m.to(dtype)
        m.eval()
        acts = {}
        rot_names = iter(["rotary.input", "rotary.latent", "rotary.output"])

        def keep(name):
            def hook(_mod, _inp, out):
                acts[name] = out.detach().clone()

            return hook

        hooks = [
            m.rotary_emb.register_forward_hook(
                lambda _m, _i, out: acts.__setitem__(next(rot_names), out.detach().clone())
            )
        ]
        for name in ["unit_emb", "token_type_emb", "latent_emb", "session_emb", "enc_atn", "enc_ffn", "dec_atn", "dec_ffn"]:
            hooks.append(getattr(m, name).register_forward_hook(keep(name)))
        for i, (atn, ffn) in enumerate(m.proc_layers):
            hooks.append(atn.register_forward_hook(keep(f"proc.{i}.atn")))
            hooks.append(ffn.register_forward_hook(keep(f"proc.{i}.ffn")))
        t = {}
        for k, v in batch.items():
            x = torch.from_numpy(np.ascontiguousarray(v))
            if x.dtype == torch.float64 and k not in ("input_timestamps", "latent_timestamps", "output_timestamps"):
                x = x.to(dtype)
            t[k] = x
        if dtype == torch.float32:
            for k in ("input_timestamps", "latent_timestamps", "output_timestamps"):
                t[k] = t[k].to(torch.float32)
        out = m(
            input_unit_index=t["input_unit_index"],
            input_timestamps=t["input_timestamps"],
            input_token_type=t["input_token_type"],
            input_mask=t["input_mask"],
            latent_index=t["latent_index"],
            latent_timestamps=t["latent_timestamps"],
            session_index=t["session_index"],
            output_timestamps=t["output_timestamps"],
        )
        w = t["weights"]
        per_token = ((out - t["targets"]) ** 2).mean(-1)
        loss = (per_token * w).sum() / w.sum()
        res = {f"act.{k}": v.contiguous() for k, v in acts.items()}
        res["output"] = out.detach().clone().contiguous()
        res["loss"] = loss.detach().reshape(1)
        if with_grads:
            loss.backward()
            for name, p in m.named_parameters():
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                # float32 keeps the fixture under 8 MiB; compare gradients to ~1e-6 relative
                res[f"grad.{name}"] = g.detach().to(torch.float32).contiguous()
        for h in hooks:
            h.remove()
        return res, m

    f64, m64 = run(torch.float64, True)
    save_file(f64, os.path.join(out_dir, "f64.safetensors"))
    f32, _ = run(torch.float32, False)
    save_file(f32, os.path.join(out_dir, "f32.safetensors"))

    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.004)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.004, total_steps=40, pct_start=0.5, div_factor=1)
    table = []
    for _ in range(40):
        g = opt.param_groups[0]
        table.append([g["lr"], g["betas"][0]])
        opt.step()
        sched.step()

    no_grad = [n for n, v in f64.items() if n.startswith("grad.") and float(v.abs().max()) == 0.0]
    meta = {
        "torch": torch.__version__,
        "torch_brain": getattr(torch_brain, "__version__", "0.2.1"),
        "config": cfg,
        "seed": 0,
        "parameters": n_params,
        "unit_vocab": list(m64.unit_emb.vocab.keys()),
        "session_vocab": list(m64.session_emb.vocab.keys()),
        "loss_f64": float(f64["loss"][0]),
        "loss_f32": float(f32["loss"][0]),
        "max_abs_output_f32_minus_f64": float((f32["output"].double() - f64["output"]).abs().max()),
        "zero_gradient_tensors": no_grad,
        "onecycle_lr_beta1": table,
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: v for k, v in meta.items() if k != "onecycle_lr_beta1"}, indent=1))


if __name__ == "__main__":
    main()
