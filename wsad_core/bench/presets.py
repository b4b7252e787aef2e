"""Ready-made benchmarks.

``rasalore-table1`` has the rows of the RASALoRE paper's Table 1 (arXiv 2510.08052, Table 1):
methods wsad implements run; the others appear with the paper's numbers and "not implemented
in wsad". MedSAM is prompted as in the paper (box of all foreground pixels, the official
0..19 px jitter). ``scale="cpu"`` shrinks training so the table finishes on a laptop and
every affected row says so on the row (its deviations); ``scale="paper"`` keeps the
published settings (GPU work).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from wsad_core.bench.config import BenchConfig
from wsad_core.errors import ConfigError

__all__ = ["PRESETS", "cpu_scaled", "preset", "scaled", "selected"]

PipelineT = TypeVar("PipelineT", bound=BaseModel)

Scale = Literal["paper", "cpu"]

_CPU_DIFFUSION: dict[str, Any] = {
    "image_size": 64,
    "channels": [32, 64, 64],
    "num_res_blocks": 1,
    "num_head_channels": 32,
    "norm_groups": 16,
    "epochs": 20,
    "epoch_sampling": "all-slices",
    "batch_size": 16,
}

# Options that shrink training for CPU runs, per plugin; unknown plugins run with defaults.
# The values are those of benchmarks/configs/brats2018-demo-cpu.yaml (docs/results.md): a few hours
# for the whole table on 2 CPU cores with the BraTS 2018 demo cases. RASALoRE and the U-Net train 30
# epochs, where their learning curves on those cases are flat (docs/results/rasalore-curves-flair).
_CPU_OPTIONS: dict[str, dict[str, Any]] = {
    "unet": {"epochs": 30},
    "ae": {"epochs": 10, "batch_size": 32},
    "dae": {"channels": [16, 32, 64, 128], "epochs": 6, "iterations_per_epoch": 32, "validation_batches": 4},
    "ame-cam": {
        "image_size": 128,
        "width": 32,
        "simclr_epochs": 2,
        "simclr_batch_size": 64,
        "classifier_epochs": 6,
        "classifier_batch_size": 32,
        "aggregation_epochs": 2,
        "aggregation_batch_size": 32,
    },
    "rasalore": {"preset": "cpu-small", "epochs": 30},
    # With CLIP weights on a CPU: ~25 s per step of 16 slices (ViT-B/32), so 3 of the 60 epochs.
    "ddpt": {"epochs": 3},
    # Diffusion models: a 1.2 M-parameter UNet at 64² (published 34.5 M at 96²), every healthy slice each epoch
    # (published: one per volume, 1600 epochs); about 2 s per step of 16 slices on 2 cores.
    # Patch2Loc: 96² slices (12-px patches), 500 steps of 2048 patches (published 15000 of 32384 at 192²),
    # a patch centre every 4th pixel at test with bilinear up-sampling (published: every pixel).
    "patch2loc": {
        "image_size": 96,
        "patches_per_batch": 2048,
        "slices_per_batch": 32,
        "epochs": 10,
        "batches_per_epoch": 50,
        "stride": 4,
        "erosion_iterations": 3,
    },
    "ddpm": _CPU_DIFFUSION,
    "pddpm": {**_CPU_DIFFUSION, "patch_size": 32},
    "mddpm": {**_CPU_DIFFUSION, "patch_size": 32},
    # cDDPM: the same UNet (plus the conditioning MLP), a ResNet-18 encoder (published ResNet-50) pretrained
    # 10 epochs by patch masking (published 1200 SparK epochs on IXI) with a 128-wide decoder (published 512).
    "cddpm": {
        **_CPU_DIFFUSION,
        "encoder": "resnet18",
        "decoder_width": 128,
        "pretrain_epochs": 10,
        "pretrain_batch_size": 16,
    },
}

# SADM (baselines.md §6.4): stage I is the CPU cDDPM above; stage II at 64² with the paper's 3 levels at half
# width (32/64/128: 1.0 M parameters for sadm_res, published 4.0 M at 64/128/256), 20 epochs over every
# training slice (published 600 of one slice per volume), batch 16 (published 32).
_CPU_SADM: dict[str, Any] = {
    "reconstruction_options": _CPU_OPTIONS["cddpm"],
    "image_size": 64,
    "base_channels": 32,
    "epochs": 20,
    "epoch_sampling": "all-slices",
    "batch_size": 16,
}
_CPU_OPTIONS["sadm"] = _CPU_SADM
_CPU_OPTIONS["sadm_res"] = _CPU_SADM


# RASALoRE's MedSAM prompting (rasalore.md §4, official MedSAM script): the tight box of *all*
# foreground pixels of the min-maxed DDPT map (> 0.5), each side pushed out by 0..19 px in the
# 224 frame (seeded here; unseeded in the official code). wsad's plugin defaults differ (box of
# the largest component, no jitter); the preset reproduces the paper at every scale, and the
# MedSAM rows report no 'default' deviation because of it.
_FAITHFUL_MEDSAM_PROMPTING: dict[str, Any] = {
    "box_from": "all",
    "jitter_max_px": 19,
    "jitter_frame": 224,
    "prompt_mask": "soft-minmax",
}
_FAITHFUL_OPTIONS: dict[str, dict[str, Any]] = {
    "medsam": _FAITHFUL_MEDSAM_PROMPTING,
    "medsam-box": _FAITHFUL_MEDSAM_PROMPTING,
    "medsam-point": _FAITHFUL_MEDSAM_PROMPTING,
}


def _stage(name: str, scale: Scale) -> dict[str, Any]:
    options = dict(_FAITHFUL_OPTIONS.get(name, {}))
    if scale == "cpu":
        options.update(_CPU_OPTIONS.get(name, {}))
    return {"name": name, "options": options}


def _row(
    label: str,
    scale: Scale,
    *,
    generator: str | None = None,
    refiner: str | None = None,
    segmenter: str | None = None,
    paper_row: str | None = None,
    paper_table: int = 1,
) -> dict[str, Any]:
    row: dict[str, Any] = {"label": label, "paper_row": paper_row or label, "paper_table": paper_table}
    for role, name in (("generator", generator), ("refiner", refiner), ("segmenter", segmenter)):
        if name:
            row[role] = _stage(name, scale)
    return row


def _reference(label: str) -> dict[str, Any]:
    return {"label": label, "paper_row": label, "reference_only": True}


#: The appendix table whose test set is each paper dataset (Table 14: tested on BraTS21; 15: on BraTS20).
_APPENDIX_TABLE = {"BraTS21": 14, "BraTS20": 15}


def rasalore_table1(
    data: str,
    *,
    scale: Scale = "cpu",
    paper_dataset: str | None = "BraTS20",
    seeds: tuple[int, ...] = (0, 1, 2),
    modality: str = "flair",
) -> dict[str, Any]:
    """The paper's Table 1 rows on ``data`` (a dataset folder or ``demo``), then the diffusion baselines.

    The diffusion baselines are only in the paper's appendix, retrained on healthy BraTS slices: Table 14
    was tested on BraTS21, Table 15 on BraTS20; their rows take the table tested on ``paper_dataset``.
    """
    appendix = _APPENDIX_TABLE.get(paper_dataset or "", 1)
    pipelines = [
        _row("AE", scale, segmenter="ae"),
        _row("DAE", scale, segmenter="dae"),
        _reference("VQVAE"),
        _reference("TS-CAM"),
        _reference("CAE"),
        _reference("LA-GAN"),
        _row("AME-CAM", scale, generator="ame-cam"),
        _reference("AnoFPDM"),
        _reference("Yoo et al. (T2)"),
        _reference("Yoo et al. (All)"),
        _row("DDPT", scale, generator="ddpt"),
        _reference("MedSAM2+DDPT (point)"),
        _reference("MedSAM2+DDPT (box)"),
        _row("MedSAM+DDPT (point)", scale, generator="ddpt", segmenter="medsam-point"),
        _row("MedSAM+DDPT (box)", scale, generator="ddpt", segmenter="medsam-box"),
        _row("RASALoRE", scale, generator="ddpt", refiner="medsam", segmenter="rasalore"),
        _row("RASALoRE without MedSAM", scale, generator="ddpt", segmenter="rasalore"),
        *(
            _row(label, scale, segmenter=name, paper_table=appendix)
            for label, name in (("DDPM", "ddpm"), ("pDDPM", "pddpm"), ("cDDPM", "cddpm"), ("mDDPM", "mddpm"))
        ),
    ]
    name = "rasalore-table1" + ("-cpu" if scale == "cpu" else "")
    return {
        "name": name,
        "datasets": [
            {"name": _dataset_name(data), "source": data, "modalities": [modality], "paper_dataset": paper_dataset}
        ],
        "pipelines": pipelines,
        "seeds": list(seeds),
        # The paper's numbers are per-slice in the official 256² crop frame (rasalore.md §10).
        "evaluation": {"protocol_options": {"per-slice": {"frame": "crop256"}}},
    }


def _dataset_name(source: str) -> str:
    """A table name for the dataset: its folder's name (``demo`` for the embedded data)."""
    # A valid dataset name starts with a letter or digit (it becomes the folder jobs/<name>/).
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(source).rstrip("/")).name)[:100].strip("-._")
    return name or "data"


PRESETS: dict[str, Callable[..., dict[str, Any]]] = {"rasalore-table1": rasalore_table1}


def preset(name: str, **arguments: Any) -> BenchConfig:
    """The preset ``name`` as a :class:`BenchConfig`.

    Raises:
        ConfigError: unknown preset.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}", hint=f"available: {', '.join(PRESETS)}")
    return BenchConfig.model_validate(PRESETS[name](**arguments))


def cpu_scaled(pipeline: PipelineT) -> PipelineT:
    """``pipeline`` with each built-in stage's CPU training sizes under the stage's own options (which win).

    ``pipeline`` is a benchmark row or a run's pipeline: anything with ``generator``, ``refiner`` and
    ``segmenter`` stages.
    """
    update = {}
    for role in ("generator", "refiner", "segmenter"):
        stage = getattr(pipeline, role)
        if stage is not None and stage.name in _CPU_OPTIONS:
            update[role] = stage.model_copy(update={"options": {**_CPU_OPTIONS[stage.name], **stage.options}})
    return pipeline.model_copy(update=update)


def scaled(config: BenchConfig, scale: Scale) -> BenchConfig:
    """``config`` with the CPU training sizes of :data:`_CPU_OPTIONS` under every stage's own options.

    ``"paper"`` changes nothing. Options a row sets itself win; every reduced setting is reported on
    its row as a deviation by the plugin, as for ``--preset … --scale cpu``.
    """
    if scale == "paper":
        return config
    return config.model_copy(update={"pipelines": tuple(cpu_scaled(row) for row in config.pipelines)})


def selected(config: BenchConfig, patterns: tuple[str, ...]) -> BenchConfig:
    """``config`` with the rows whose label matches one of ``patterns`` (shell wildcards, case-insensitive).

    The jobs keep their folders and settings, so the full configuration can later be run into the same
    folder with ``--update`` and reuses them.

    Raises:
        ConfigError: a pattern matches no row.
    """
    if not patterns:
        return config
    labels = [row.label for row in config.pipelines]
    matched = {p: {label for label in labels if fnmatch.fnmatchcase(label.casefold(), p.casefold())} for p in patterns}
    for pattern, found in matched.items():
        if not found:
            raise ConfigError(f"--only {pattern!r} matches no row", hint=f"rows: {', '.join(labels)}")
    kept = set().union(*matched.values())
    return config.model_copy(update={"pipelines": tuple(row for row in config.pipelines if row.label in kept)})
