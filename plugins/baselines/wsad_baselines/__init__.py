"""wsad-baselines: deliberately simple reference methods, clearly labelled as such.

* ``zscore`` (generator): per-pixel intensity z-score against healthy-labelled slices.
* ``unet`` (segmenter): a small MONAI 2-D U-Net trained on pseudo-masks.

Neither is a published method; their outputs carry that note.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
