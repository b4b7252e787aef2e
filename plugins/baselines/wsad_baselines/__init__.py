"""wsad-baselines: RASALoRE's comparison baselines and two reference methods.

* ``ame-cam`` (generator): AME-CAM, multi-exit CAMs from slice labels (Chen et al., MICCAI 2023).
* ``ae`` (segmenter): the autoencoder of Baur et al. (MedIA 2021), unsupervised on healthy slices.
* ``dae`` (segmenter): the denoising autoencoder of Kascenas et al. (MIDL 2022), unsupervised.
* ``zscore`` (generator) and ``unet`` (segmenter): reference baselines, not published methods;
  their outputs carry that note.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
