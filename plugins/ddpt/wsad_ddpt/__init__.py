"""wsad-ddpt: DDPT (discriminative dual prompt tuning on a frozen CLIP), RASALoRE's pseudo-mask stage.

* ``ddpt`` (generator): CoOp text prompts, deep visual prompts and class-aware visual prompts on
  a frozen open_clip ViT-B/32, trained on slice labels; the last block's class-token attention
  becomes the pseudo-mask (Sharma et al., BMVC 2025, Sec. 2.1 and appendix B).

See README.md for the method, its defaults, every deviation from the official code and how to
provide the CLIP weights.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
