"""wsad-medsam: the MedSAM refiner and the MedSAM-box / MedSAM-point baselines (see README.md)."""

from __future__ import annotations

__all__: list[str] = []
