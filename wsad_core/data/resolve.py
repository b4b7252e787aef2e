"""From what the user typed (``demo`` or a path, maybe ``--adapter``) to a dataset index."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from wsad_core.data._demo import DEMO_VERSION
from wsad_core.data._paths import default_cache_root
from wsad_core.data.index import DatasetIndex
from wsad_core.errors import DataError

if TYPE_CHECKING:
    from wsad_core.plugins import PluginHost
    from wsad_core.specs import DatasetSpec

__all__ = ["DEMO_SOURCE", "demo_root", "open_dataset"]

log = logging.getLogger("wsad.data")

#: The source name that selects the embedded synthetic dataset.
DEMO_SOURCE = "demo"
_DEMO_ADAPTER = "demo"


def demo_root(options_json: str) -> Path:
    """Cache folder of the demo dataset generated with these (validated) options."""
    digest = hashlib.sha256(options_json.encode()).hexdigest()[:12]
    return default_cache_root() / "demo" / f"v{DEMO_VERSION}-{digest}"


def _detect(host: PluginHost, root: Path) -> str:
    specs = host.specs("dataset")
    matches = []
    for name, spec in specs.items():
        try:
            if cast("DatasetSpec", spec).detect(root):
                matches.append(name)
        except Exception as error:
            # One adapter's faulty check must not hide the others.
            log.warning("dataset adapter %s failed to inspect %s: %s", name, root, error)
    if not matches:
        raise DataError(
            f"{root}: no dataset adapter recognises this folder (adapters: {', '.join(specs) or 'none'})",
            hint="choose one with --adapter (e.g. --adapter folder with -o images=... -o masks=...)",
        )
    if len(matches) > 1:
        raise DataError(
            f"{root}: several dataset adapters recognise this folder: {', '.join(matches)}",
            hint="choose one with --adapter",
        )
    return matches[0]


def open_dataset(
    source: str,
    host: PluginHost,
    *,
    adapter: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> DatasetIndex:
    """Index a dataset given by name or path.

    Args:
        source: ``"demo"`` for the embedded synthetic dataset (generated into the cache
            on first use), else a dataset folder.
        host: the plugin host providing dataset adapters.
        adapter: adapter name; auto-detected from the folder when ``None``.
        options: the adapter's options, validated by its options model.

    Returns:
        The index, with at least one case.

    Raises:
        DataError: the path does not exist, no or several adapters recognise it, or
            the adapter finds no case.
        UnknownPluginError: ``adapter`` names no installed adapter.
        ConfigError: the options are invalid.
    """
    if source == DEMO_SOURCE and adapter in (None, _DEMO_ADAPTER):
        validated = host.validate_options("dataset", _DEMO_ADAPTER, options)
        root = demo_root(validated.model_dump_json())
        name = _DEMO_ADAPTER
    else:
        root = Path(source).expanduser()
        if adapter is None and not root.exists():
            raise DataError(
                f"{root}: dataset folder does not exist",
                hint="give an existing folder, or `demo` for the embedded synthetic dataset",
            )
        name = adapter if adapter is not None else _detect(host, root)
        validated = host.validate_options("dataset", name, options)
        if name != _DEMO_ADAPTER and not root.exists():
            raise DataError(f"{root}: dataset folder does not exist", hint=f"check the path given to --adapter {name}")
    spec = cast("DatasetSpec", host.get("dataset", name))
    index = spec.factory(validated, root)
    if not isinstance(index, DatasetIndex):
        raise DataError(f"dataset adapter {name!r} returned {type(index).__name__}, not a DatasetIndex")
    if not index.cases:
        raise DataError(
            f"{root}: dataset adapter {name!r} found no cases",
            hint="check the folder layout against `wsad plugins` (or choose another --adapter)",
        )
    return index
