"""Hook implementations of wsad-ddpt.

The DDPT generator (RASALoRE stage 1: CoOp text prompts, deep visual prompts and
class-aware visual prompts on a frozen CLIP ViT-B/32) is not implemented yet, so this
plugin registers no generator: ``wsad plugins`` lists it as installed and providing
nothing, and ``wsad run --generator ddpt`` fails with "no generator named 'ddpt'".
"""

from __future__ import annotations
