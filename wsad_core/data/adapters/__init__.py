"""The built-in dataset adapters, registered by the core plugin (``wsad_core._builtins``).

=============  ===============================================================
``brats-demo`` BraTS 2018 demo folders (``FLAIR``/``T1``/``GT_W``)
``brats``      official BraTS 2020/2021 (``_flair`` …) and 2023 (``-t2f`` …)
``msd-brain``  Medical Segmentation Decathlon Task01_BrainTumour (4-D NIfTI)
``folder``     generic images + masks by glob (chosen explicitly)
``demo``       embedded synthetic dataset on the MNI152 template
=============  ===============================================================
"""

from __future__ import annotations

from wsad_core.data.adapters import brats, brats_demo, demo, folder, msd
from wsad_core.data.adapters.brats import BratsOptions
from wsad_core.data.adapters.demo import DemoOptions
from wsad_core.data.adapters.folder import FolderOptions
from wsad_core.data.adapters.msd import MsdBrainOptions
from wsad_core.specs import DatasetSpec

__all__ = ["BratsOptions", "DemoOptions", "FolderOptions", "MsdBrainOptions", "dataset_specs"]


def dataset_specs() -> list[DatasetSpec]:
    """Specs of the built-in adapters, in a fixed order."""
    return [brats_demo.spec, brats.spec, msd.spec, folder.spec, demo.spec]
