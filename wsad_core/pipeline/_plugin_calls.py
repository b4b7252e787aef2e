"""Calls into plugin objects that name the plugin and method in every contract error.

A plugin that builds a ``ScoreMaps`` holding NaN, or returns the wrong type, fails inside the core's
type checks; without this the message says ``ScoreMaps: scores contain NaN or Inf`` and leaves the
user to guess which of the pipeline's plugins produced it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from wsad_core.errors import ContractError
from wsad_core.types import MetricRow

__all__ = ["CheckedEvaluator", "plugin_call"]


@contextmanager
def plugin_call(role: str, name: str, method: str) -> Iterator[None]:
    """Re-raise a :class:`ContractError` from inside ``method`` as ``<role> '<name>' <method>(): <message>``."""
    prefix = f"{role} {name!r} {method}()"
    try:
        yield
    except ContractError as error:
        if error.message.startswith(prefix):
            raise
        raise ContractError(f"{prefix}: {error.message}", hint=error.hint) from error


class CheckedEvaluator:
    """An evaluator whose ``evaluate`` names itself in errors and must return ``MetricRow``s.

    Other attributes (``threshold_free``, ``dice_curve``, …) are the evaluator's own.
    """

    def __init__(self, evaluator: Any, name: str) -> None:
        self._evaluator = evaluator
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._evaluator, attribute)

    def evaluate(self, request: Any) -> list[MetricRow]:
        """The evaluator's rows for ``request``, checked."""
        with plugin_call("evaluator", self._name, "evaluate"):
            produced = self._evaluator.evaluate(request)
        rows = None
        if not isinstance(produced, Mapping | str | bytes):  # iterable, but never a sequence of rows
            try:
                rows = list(produced)
            except TypeError:
                rows = None
        if rows is None or not all(isinstance(row, MetricRow) for row in rows):
            found = type(produced).__name__ if rows is None else ", ".join(sorted({type(r).__name__ for r in rows}))
            raise ContractError(f"evaluator {self._name!r} evaluate() returned {found}, expected MetricRow objects")
        return rows
