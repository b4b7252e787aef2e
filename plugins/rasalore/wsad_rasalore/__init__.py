"""wsad-rasalore: the RASALoRE segmenter (Sharma et al., BMVC 2025) as a wsad plugin.

Registers the segmenter ``rasalore``; see README.md for the architecture, the defaults
and how the official code's defects are fixed.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
