"""RASALoRE learning curves and ablations on real data, through ``wsad run`` (issue 13).

Each variant is one ``wsad run --generator zscore --segmenter rasalore`` (or ``unet`` for the
reference) with ``-o output.learning_curves=true``: after every epoch the plugin hands the maps of
the validation patients' slices to the core, which scores them against ground truth (report
only; the plugin never sees the number, rows keep ``selection=last``), and the plugin adds its
Dice against the validation pseudo-masks (what a selection rule may use). The script copies each
run's ``learning_curve.csv``, ``summary.json`` and settings into ``--out`` and draws every variant
in one figure, with the training pseudo-masks' Dice as a dashed line.

Usage::

    python benchmarks/rasalore_curves.py --data ../shared/data/brats2018_demo --variants paper-sgd adamw-cosine
    python benchmarks/rasalore_curves.py --list                      # the variants and their options
    python benchmarks/rasalore_curves.py --plot-only --out docs/results/rasalore-curves-flair

Runs are resumable (``--resume`` on an existing run folder); a finished variant is skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

from wsad_core.pipeline.curves import read_learning_curve

# Every variant but paper-size-sgd trains at cpu-small (64² input, k = 256, d = 64, widths / 2) on the zscore masks.
SMALL = ["-o", "segmenter.preset=cpu-small"]


def _adamw(*settings: str) -> list[str]:
    """``cpu-small`` with the ``adamw-cosine`` recipe and further segmenter ``option=value`` settings."""
    return [
        *SMALL,
        *(part for setting in ("recipe=adamw-cosine", *settings) for part in ("-o", f"segmenter.{setting}")),
    ]


VARIANTS: dict[str, dict[str, object]] = {
    "paper-sgd": {"segmenter": "rasalore", "options": SMALL, "what": "published recipe (SGD 0.01, step decay)"},
    "adamw-cosine": {
        "segmenter": "rasalore",
        "options": _adamw(),
        "what": "AdamW 1e-3, warm-up, cosine (not the paper's)",
    },
    "adamw-no-augment": {
        "segmenter": "rasalore",
        "options": _adamw("augment=false"),
        "what": "adamw-cosine without augmentation",
    },
    "adamw-no-point-struct": {
        "segmenter": "rasalore",
        "options": _adamw("point_weight=0", "structure_weight=0"),
        "what": "adamw-cosine, L_PA and L_Struct off",
    },
    "adamw-no-rasa": {
        "segmenter": "rasalore",
        "options": _adamw("rasa=false", "point_weight=0", "structure_weight=0"),
        "what": "adamw-cosine without RASA (ξ = LoRE; L_PA and L_Struct off with it: compare adamw-no-point-struct)",
    },
    "adamw-no-lore": {
        "segmenter": "rasalore",
        "options": _adamw("lore_variant=learned"),
        "what": "adamw-cosine, learned queries (N(0, 1), trained) instead of the fixed LoRE",
    },
    "adamw-smooth-lore": {
        "segmenter": "rasalore",
        "options": _adamw("lore_variant=smooth"),
        "what": "adamw-cosine, LoRE with SAM's Fourier scale (std 1: neighbouring points get similar codes)",
    },
    "adamw-no-fp-bg": {
        "segmenter": "rasalore",
        "options": _adamw("alpha=0", "beta=0"),
        "what": "adamw-cosine, α = β = 0 (false-positive and background terms off)",
    },
    "adamw-dice": {
        "segmenter": "rasalore",
        "options": _adamw("overlap=dice"),
        "what": "adamw-cosine, paper's EL-Dice instead of the code's Tversky",
    },
    "adamw-no-gamma": {
        "segmenter": "rasalore",
        "options": _adamw("gamma=1"),
        "what": "adamw-cosine, gamma 1 instead of 2",
    },
    "adamw-unweighted": {
        "segmenter": "rasalore",
        "options": _adamw("sigma_mask=10000", "sigma_background=10000"),
        "what": "adamw-cosine, Gaussian weight maps flat (σ = 10⁴: plain Tversky/Dice on the pseudo-masks)",
    },
    "adamw-plain-dice": {
        "segmenter": "rasalore",
        "options": _adamw("overlap=dice", "sigma_mask=10000", "sigma_background=10000", "alpha=0", "beta=0"),
        "what": "adamw-cosine, L_Dec reduced to EL-Dice against the plain pseudo-masks (flat weights, α = β = 0)",
    },
    "adamw-no-first-norm": {
        "segmenter": "rasalore",
        "options": _adamw("first_block_norm=false"),
        "what": "adamw-cosine, no channel LayerNorm in encoder block e1 (absolute intensity kept)",
    },
    # The paper configuration: ~29 s per training step of batch 16 on 2 cores (benchmarks/results/rasalore_paper.json),
    # so on a CPU only a few epochs (--epochs 3); the other variants are cpu-small.
    "paper-size-sgd": {
        "segmenter": "rasalore",
        "options": ["-o", "segmenter.preset=paper"],
        "what": "paper configuration (128² input, k = 1024, d = 256) and recipe (SGD 0.01, step decay)",
    },
    "unet": {"segmenter": "unet", "options": [], "what": "U-Net reference on the same masks"},
}


def _run(variant: str, args: argparse.Namespace, run_dir: Path) -> float:
    spec = VARIANTS[variant]
    command = [
        sys.executable,
        "-m",
        "wsad_core",
        "run",
        "--generator",
        "zscore",
        "--segmenter",
        str(spec["segmenter"]),
        "--data",
        args.data,
        "--out",
        str(run_dir),
        "-o",
        "output.learning_curves=true",
        "-o",
        "output.overlays=0",
        "-o",
        "output.save_maps=false",
        "-o",
        f"segmenter.epochs={args.epochs}",
        "-o",
        f"seed={args.seed}",
        *[str(x) for x in spec["options"]],  # type: ignore[union-attr]
        *args.extra,
    ]
    if args.modality:
        command += ["-o", f"data.modalities=[{args.modality}]"]
    if (run_dir / "config.yaml").exists():
        command.append("--resume")
    started = time.perf_counter()
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def _collect(variant: str, run_dir: Path, out: Path, seconds: float | None) -> None:
    target = out / variant
    target.mkdir(parents=True, exist_ok=True)
    for name in ("learning_curve.csv", "summary.json", "config.yaml"):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, target / name)
    if seconds is not None:
        (target / "wall.json").write_text(json.dumps({"seconds": seconds, "command_variant": variant}) + "\n")


def _headline(summary: dict, target: str, rule: str) -> float:
    for row in summary["rows"]:
        wanted = (target, "per-slice", "dice", rule)
        if (row["target"], row["protocol"], row["metric"], row["threshold_rule"]) == wanted:
            return float(row["mean"])
    return math.nan


def _diagnostics(path: Path) -> str:
    """``fit | equivariance`` cells from benchmarks/rasalore_diagnostics.py's JSON, or dashes."""
    if not path.exists():
        return "— | —"
    found = json.loads(path.read_text())
    train, test = found["train"], found["test"]
    return (
        f"{100 * train['dice_vs_truth']:.2f} / {100 * test['dice_vs_truth']:.2f} | "
        f"{100 * test['hflip_equivariance']:.2f} / {100 * test['vflip_equivariance']:.2f}"
    )


def plot(out: Path) -> None:
    """``curves.png`` (ground truth and pseudo-mask Dice per epoch, every variant) and ``curves.md``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in VARIANTS if (out / v / "learning_curve.csv").exists()]
    if not variants:
        raise SystemExit(f"no learning_curve.csv under {out}")
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    lines = [
        "| variant | what | epochs | s/epoch | val GT Dice last / best (epoch) | val pseudo-mask Dice last | "
        "test per-slice Dice fixed 0.5 / val-best / oracle | train pseudo-masks | Dice vs truth train / test "
        "(crop, 0.5) | flip equivariance test (h / v) |",
        "|" + " --- |" * 10,
    ]
    train_masks = math.nan
    for index, variant in enumerate(variants):
        rows = read_learning_curve(out / variant / "learning_curve.csv")
        epochs = [int(r["epoch"]) + 1 for r in rows]
        truth = [float(r["dice_ground_truth"]) for r in rows]
        pseudo = [float(r.get("dice_generator_masks", math.nan)) for r in rows]
        # tab10 has ten colours: later variants are dashed, and the U-Net reference is black, so no two
        # lines look alike.
        style = {"color": f"C{index % 10}", "ls": "-" if index < 10 else "--", "lw": 1.2}
        if VARIANTS[variant]["segmenter"] == "unet":
            style = {"color": "black", "ls": "-", "lw": 1.8}
        left.plot(epochs, truth, marker="o", ms=2.5, label=variant, **style)
        right.plot(epochs, pseudo, marker="o", ms=2.5, label=variant, **style)
        summary = json.loads((out / variant / "summary.json").read_text())
        fixed, val, oracle = (_headline(summary, "test", r) for r in ("fixed:0.5", "val-best", "oracle"))
        train_masks = _headline(summary, "pseudo-masks/train", "fixed:0.5")
        wall = out / variant / "wall.json"
        seconds = json.loads(wall.read_text())["seconds"] if wall.exists() else math.nan
        best = max(range(len(truth)), key=lambda i: truth[i] if math.isfinite(truth[i]) else -1)
        lines.append(
            f"| {variant} | {VARIANTS[variant]['what']} | {len(rows)} | {seconds / max(len(rows), 1):.0f} | "
            f"{100 * truth[-1]:.2f} / {100 * truth[best]:.2f} ({best + 1}) | {100 * pseudo[-1]:.2f} | "
            f"{100 * fixed:.2f} / {100 * val:.2f} / {100 * oracle:.2f} | {100 * train_masks:.2f} | "
            f"{_diagnostics(out / variant / 'diagnostics.json')} |"
        )
    for axis, title in (
        (left, "validation Dice vs ground truth (report only)"),
        (right, "validation Dice vs the pseudo-masks (the training target)"),
    ):
        if math.isfinite(train_masks):
            axis.axhline(train_masks, color="grey", ls="--", lw=1, label="training pseudo-masks vs truth")
        axis.set(xlabel="epoch", title=title, ylim=(0, 1))
        axis.grid(alpha=0.3)
    left.set_ylabel("per-slice Dice at 0.5 (validation patients)")
    right.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=110)
    lines.append(
        "\nPer-slice Dice at 0.5 unless said; curves and the test columns in the native frame, the diagnostic "
        "columns (benchmarks/rasalore_diagnostics.py) in the network's crop frame on slices with > 300 lesion "
        "pixels. s/epoch includes the per-epoch validation prediction and was measured on a 2-core machine that "
        "other jobs shared part of the time: an upper bound."
    )
    (out / "curves.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/brats2018_demo")
    parser.add_argument("--modality", default=None, help="e.g. t2 (default: the dataset's first)")
    parser.add_argument("--variants", nargs="*", default=["paper-sgd", "adamw-cosine", "unet"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/rasalore-curves", help="where the runs live")
    parser.add_argument("--out", default="docs/results/rasalore-curves", help="where the curves are collected")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("extra", nargs="*", help="more wsad run arguments after --")
    args = parser.parse_args()
    if args.list:
        for name, spec in VARIANTS.items():
            print(f"{name:24s} {spec['what']}  {' '.join(map(str, spec['options']))}")  # type: ignore[arg-type]
        return
    out = Path(args.out)
    if not args.plot_only:
        for variant in args.variants:
            run_dir = Path(args.runs) / variant
            if (run_dir / "summary.json").exists():
                _collect(variant, run_dir, out, None)
                continue
            _collect(variant, run_dir, out, _run(variant, args, run_dir))
    plot(out)


if __name__ == "__main__":
    main()
