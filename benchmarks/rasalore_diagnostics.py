"""Why a trained RASALoRE run scores what it scores: fit, generalisation, flips, calibration (issue 13).

Reads a finished ``wsad run`` folder made by ``benchmarks/rasalore_curves.py`` (its configuration, its
stored test maps and the last RASALoRE checkpoint) and measures, on the training patients' and the test
patients' slices with more than 300 lesion pixels, in the network's crop frame at threshold 0.5:

* Dice of the prediction against ground truth (the fit on training patients vs the test patients);
* flip equivariance: Dice between the prediction and the un-flipped prediction of the flipped input
  (1.0 = the map follows the image; a memorised location prior would not flip), and Dice against
  ground truth with flipped inputs;
* calibration of the stored test maps (native frame): the share of lesion pixels with p < 1e-6 and
  with p > 0.5, and the share of healthy brain pixels above 0.5;
* whether the maps are dominated by the LoRE grid: each probability map (output frame, side n·P with
  P = output side / sqrt(k), the spacing of the candidate points) is folded into its n² tiles of P × P
  pixels; the variance of the mean tile over the map's variance is the share of the map that repeats
  with the grid's period (1 = a pure grid pattern; a map without grid structure gives about 1/n² plus
  what its content happens to share). The same number for the ground-truth masks is the baseline.

Usage::

    python benchmarks/rasalore_diagnostics.py runs/rasalore-curves/adamw-cosine --json OUT.json
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from wsad_rasalore._data import prepare_training, to_batch
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.segmenter import build_network
from wsad_rasalore.torch_model import RasaloreNet

from wsad_core import PluginHost
from wsad_core.config import RunConfig
from wsad_core.context import SilentProgress
from wsad_core.data.frames import to_native
from wsad_core.pipeline.data_stage import load_run_data


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    overlap = (a & b).reshape(len(a), -1).sum(1)
    total = a.reshape(len(a), -1).sum(1) + b.reshape(len(b), -1).sum(1)
    return float(np.mean(2 * overlap / np.maximum(total, 1)))


def _network(run: Path, options: RasaloreOptions) -> RasaloreNet:
    path = glob.glob(str(run / "stages/segmenter/work/rasalore-*/bridge/last.pt"))[0]
    state = torch.load(path, weights_only=True)["model"]
    lore = {key.removeprefix("lore_"): value for key, value in state.items() if key.startswith("lore_")}
    net = build_network(options, lore)
    net.load_state_dict(state)
    return net.eval()


def grid_periodic_share(maps: np.ndarray, period: int) -> float:
    """Mean over maps (N, H, W) of var(mean P × P tile) / var(map); maps without variance are skipped."""
    n, height, width = maps.shape
    tiles = maps[:, : height - height % period, : width - width % period].reshape(
        n, height // period, period, width // period, period
    )
    pattern = tiles.mean(axis=(1, 3))  # (N, P, P): the component that repeats with the grid's period
    total = maps.reshape(n, -1).var(axis=1)
    kept = total > 0
    return float(np.mean(pattern.reshape(n, -1).var(axis=1)[kept] / total[kept])) if kept.any() else float("nan")


def _split_checks(net: RasaloreNet, split, options: RasaloreOptions) -> dict[str, float]:  # type: ignore[no-untyped-def]
    slices, truth = split.slices, split.reference.masks
    geometry = options.geometry()
    size = slices.spatial_shape
    masks = F.interpolate(torch.from_numpy(truth[:, None].astype(np.float32)), size=size, mode="nearest")
    masks_np = masks[:, 0].numpy() > 0.5
    positions = np.flatnonzero(masks_np.reshape(len(masks_np), -1).sum(1) > 300)
    prepared = prepare_training(slices, positions, [0], masks_np, None, geometry, options)
    batch = to_batch(prepared, torch.arange(len(positions)), geometry.grid_side)
    with torch.no_grad():
        probabilities = torch.sigmoid(net(batch.images).logits)[:, 0].numpy()
        plain = probabilities > 0.5
        hflip = torch.sigmoid(net(batch.images.flip(-1)).logits)[:, 0].flip(-1).numpy() > 0.5
        vflip = torch.sigmoid(net(batch.images.flip(-2)).logits)[:, 0].flip(-2).numpy() > 0.5
    target = batch.ddpt.numpy() > 0.5
    period = probabilities.shape[-1] // geometry.grid_side
    return {
        "grid_period_px": period,
        "grid_periodic_share": grid_periodic_share(probabilities, period),
        "grid_periodic_share_truth": grid_periodic_share(target.astype(np.float32), period),
        "slices": len(positions),
        "dice_vs_truth": _dice(plain, target),
        "dice_vs_truth_hflip_input": _dice(hflip, target),
        "dice_vs_truth_vflip_input": _dice(vflip, target),
        "hflip_equivariance": _dice(plain, hflip),
        "vflip_equivariance": _dice(plain, vflip),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    raw = yaml.safe_load((args.run / "config.yaml").read_text())
    config = RunConfig.model_validate(raw.get("config", raw))
    options = RasaloreOptions(**config.pipeline.segmenter.options)  # type: ignore[union-attr]
    data = load_run_data(config.data, PluginHost(disabled=()), SilentProgress())
    net = _network(args.run, options)
    result: dict[str, object] = {
        "run": str(args.run),
        "options": options.model_dump(mode="json", exclude_defaults=True),
    }
    result["train"] = _split_checks(net, data.train, options)
    result["test"] = _split_checks(net, data.test, options)
    maps = np.load(args.run / "stages/segmenter/arrays.npz")["test"]
    truth = data.test.reference.masks
    native = to_native(maps, truth.shape[1:])
    kept = truth.reshape(len(truth), -1).sum(1) > 200
    lesion = truth[kept].astype(bool)
    scores = native[kept]
    brain = to_native(data.test.slices.brain_masks.astype(np.float32), truth.shape[1:])[kept] > 0.5
    result["test_calibration"] = {
        "lesion_pixels": int(lesion.sum()),
        "lesion_share_p_below_1e-6": float((scores[lesion] < 1e-6).mean()),
        "lesion_share_p_above_0.5": float((scores[lesion] > 0.5).mean()),
        "healthy_brain_share_p_above_0.5": float((scores[~lesion & brain] > 0.5).mean()),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
