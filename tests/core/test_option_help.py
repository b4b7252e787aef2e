"""What `wsad plugins --options NAME` shows cites only what ships: papers, and the project's own files."""

from __future__ import annotations

import re

from wsad_core import PluginHost

_UNSHIPPED = re.compile(r"(?<!paper )§|\b(?:rasalore|evaluation|baselines|environment|ecosystem)\.md\b")


def test_no_option_description_cites_a_document_that_does_not_ship():
    host = PluginHost()
    offending = [
        f"{role} {name}.{field}: {info.description}"
        for role in ("generator", "refiner", "segmenter", "evaluator", "dataset")
        for name, spec in host.specs(role).items()
        for field, info in spec.options.model_fields.items()
        if _UNSHIPPED.search(info.description or "")
    ]
    assert not offending, "\n".join(offending)
