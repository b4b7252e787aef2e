"""RASALoRE and the U-Net against the number of training patients, on the same masks and test patients (issue 13).

On the eight BraTS 2018 cases RASALoRE fits its training patients but stays below the U-Net on new
ones (plugins/rasalore/README.md). If that gap is the cost of having few training patients, it should
shrink as patients are added. This script keeps the seeded split's validation and test patients fixed
and trains both segmenters on the first 1, 2, … of its training patients (zscore pseudo-masks, which
are themselves fitted on those patients' healthy slices), with the same number of optimiser steps for
every count: ``epochs × 4 / n`` epochs for ``n`` patients.

Each point is one ``wsad run`` on a folder of links to the chosen cases (nothing copied), so every
number can be rerun from the command line it prints. Results go to ``--out``: ``patients.json``,
``patients.md`` and ``patients.png``.

Usage::

    python benchmarks/rasalore_patients.py --data ../shared/data/brats2018_demo --patients 1 2 4
    python benchmarks/rasalore_patients.py --plot-only --out docs/results/rasalore-patients-flair
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

SEGMENTERS: dict[str, list[str]] = {
    # The published SGD recipe at cpu-small, as the FLAIR table's RASALoRE rows.
    "rasalore": ["-o", "segmenter.preset=cpu-small"],
    "unet": [],
}


def _split(data: Path) -> tuple[list[str], list[str], list[str]]:
    """The seeded split of the full dataset (the FLAIR table's): training, validation, test case ids.

    The brats adapter names each case after its folder, so the folder names are the case ids.
    """
    from wsad_core.data.config import SplitConfig
    from wsad_core.data.split import split_cases

    split = split_cases(sorted(p.name for p in data.iterdir() if p.is_dir()), SplitConfig())
    return list(split.train), list(split.validation), list(split.test)


def _subset(data: Path, cases: list[str], folder: Path) -> Path:
    """A dataset folder holding links to ``cases`` of ``data``."""
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        link = folder / case
        if not link.exists():
            link.symlink_to((data / case).resolve(), target_is_directory=True)
    return folder


def _run(segmenter: str, data: Path, out: Path, epochs: int, validation: list[str], test: list[str]) -> float:
    command = [
        sys.executable, "-m", "wsad_core", "run", "--generator", "zscore", "--segmenter", segmenter,
        "--data", str(data), "--out", str(out),
        "-o", f"data.split.test=[{','.join(test)}]", "-o", f"data.split.validation=[{','.join(validation)}]",
        "-o", f"segmenter.epochs={epochs}", "-o", "output.overlays=0", "-o", "output.save_maps=false",
        *SEGMENTERS[segmenter],
    ]  # fmt: skip
    if (out / "config.yaml").exists():
        command.append("--resume")
    print(" ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def _numbers(run: Path) -> dict[str, float]:
    rows = json.loads((run / "summary.json").read_text())["rows"]

    def pick(target: str, rule: str) -> float:
        return next(
            r["mean"]
            for r in rows
            if (r["target"], r["protocol"], r["threshold_rule"], r["metric"]) == (target, "per-slice", rule, "dice")
        )

    return {
        "test_fixed": pick("test", "fixed:0.5"),
        "test_val_best": pick("test", "val-best"),
        "train_masks": pick("pseudo-masks/train", "fixed:0.5"),
    }


def _write(results: list[dict[str, object]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "patients.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "| training patients | epochs | segmenter | test Dice fixed 0.5 | test Dice val-best | training pseudo-masks | "
        "seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['patients']} | {r['epochs']} | {r['segmenter']} | {100 * r['test_fixed']:.2f} | "  # type: ignore[operator]
            f"{100 * r['test_val_best']:.2f} | {100 * r['train_masks']:.2f} | {r['seconds']:.0f} |"  # type: ignore[operator]
        )
    (out / "patients.md").write_text("\n".join(lines) + "\n")
    _plot(results, out / "patients.png")


def _plot(results: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for segmenter, colour in (("rasalore", "tab:red"), ("unet", "tab:blue")):
        mine = sorted((r for r in results if r["segmenter"] == segmenter), key=lambda r: r["patients"])  # type: ignore[arg-type,return-value]
        xs = [r["patients"] for r in mine]
        axis.plot(xs, [100 * r["test_val_best"] for r in mine], "o-", color=colour, label=f"{segmenter} val-best")  # type: ignore[operator]
        axis.plot(xs, [100 * r["test_fixed"] for r in mine], "o--", color=colour, alpha=0.5, label=f"{segmenter} 0.5")  # type: ignore[operator]
    masks = sorted({(r["patients"], r["train_masks"]) for r in results})  # type: ignore[misc]
    axis.plot([m[0] for m in masks], [100 * m[1] for m in masks], "k:", label="training pseudo-masks")
    axis.set_xlabel("training patients")
    axis.set_ylabel("per-slice Dice on the 2 test patients (%)")
    axis.set_title("zscore masks, BraTS 2018 FLAIR, equal optimiser steps")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/brats2018_demo"))
    parser.add_argument("--patients", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--epochs", type=int, default=15, help="epochs with all 4 training patients (scaled by 4/n)")
    parser.add_argument("--segmenters", nargs="+", default=list(SEGMENTERS), choices=list(SEGMENTERS))
    parser.add_argument("--runs", type=Path, default=Path("runs/rasalore-patients"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/rasalore-patients-flair"))
    parser.add_argument("--plot-only", action="store_true", help="redraw from --out/patients.json")
    args = parser.parse_args()
    if args.plot_only:
        _write(json.loads((args.out / "patients.json").read_text()), args.out)
        return
    train, validation, test = _split(args.data)
    results: list[dict[str, object]] = []
    for count in args.patients:
        if not 1 <= count <= len(train):
            parser.error(f"--patients {count}: the split has {len(train)} training patients")
        folder = _subset(args.data, train[:count] + validation + test, args.runs / f"data-{count}")
        epochs = round(args.epochs * len(train) / count)
        for segmenter in args.segmenters:
            run = args.runs / f"{segmenter}-{count}"
            seconds = _run(segmenter, folder, run, epochs, validation, test)
            results.append(
                {"patients": count, "epochs": epochs, "segmenter": segmenter, "seconds": seconds, **_numbers(run)}
            )
            _write(results, args.out)  # after every run: an interrupted sweep keeps what it measured


if __name__ == "__main__":
    main()
