"""Hook implementations of wsad-rasalore.

The RASALoRE segmenter is not implemented yet, so this plugin registers nothing:
``wsad plugins`` lists it as installed and providing nothing, and
``--segmenter rasalore`` fails with "no segmenter named 'rasalore'".
"""

from __future__ import annotations
