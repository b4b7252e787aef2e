"""Bar charts draw error bars only where a bar rests on more than one run, and say so in the title."""

from __future__ import annotations

from matplotlib.axes import Axes

from wsad_core.bench import BenchConfig
from wsad_core.bench.plots import bar_chart

CONFIG = BenchConfig.model_validate(
    {
        "name": "plots",
        "datasets": [{"name": "d", "source": "demo"}],
        "pipelines": [{"label": "a", "generator": {"name": "zscore"}}, {"label": "b", "generator": {"name": "zscore"}}],
    }
)


def _rows(runs: int) -> list[dict]:
    base = {"dataset": "d", "protocol": "per-slice", "threshold_rule": "val-best", "metric": "dice", "n_runs": runs}
    return [{**base, "pipeline": p, "mean": 0.5, "std": 0.0 if runs == 1 else 0.1} for p in ("a", "b")]


def test_one_run_per_bar_draws_no_error_bars(tmp_path, monkeypatch):
    seen: dict[str, object] = {}
    real_bar, real_title = Axes.bar, Axes.set_title

    def bar(self, *args, **kwargs):
        seen["yerr"] = kwargs.get("yerr")
        return real_bar(self, *args, **kwargs)

    def set_title(self, text, **kwargs):
        seen["title"] = text
        return real_title(self, text, **kwargs)

    monkeypatch.setattr(Axes, "bar", bar)
    monkeypatch.setattr(Axes, "set_title", set_title)
    assert bar_chart(_rows(1), CONFIG, "val-best", tmp_path / "one.png")
    assert seen["yerr"] is None
    assert "no spread" in str(seen["title"])
    assert bar_chart(_rows(3), CONFIG, "val-best", tmp_path / "three.png")
    assert seen["yerr"] is not None
    assert "mean ± std over up to 3 runs" in str(seen["title"])
