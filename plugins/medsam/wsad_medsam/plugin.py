"""Hook implementations of wsad-medsam.

The MedSAM refiner and the MedSAM-box / MedSAM-point baselines are not implemented
yet, so this plugin registers nothing: ``wsad plugins`` lists it as installed and
providing nothing, and ``--refiner medsam`` fails with "no refiner named 'medsam'".
"""

from __future__ import annotations
