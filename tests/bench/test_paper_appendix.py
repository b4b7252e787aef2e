"""The diffusion baselines' reference numbers come from the paper's appendix (Tables 14/15), marked as such."""

from __future__ import annotations

import pytest

from wsad_core.bench.aggregate import aggregate
from wsad_core.bench.paper import paper_number
from wsad_core.bench.presets import preset
from wsad_core.bench.report import render_overview


@pytest.mark.parametrize(("paper_dataset", "table", "ddpm_dice"), [("BraTS20", 15, 0.2619), ("BraTS21", 14, 0.2891)])
def test_preset_rows_take_the_appendix_table_tested_on_the_paper_dataset(paper_dataset, table, ddpm_dice):
    config = preset("rasalore-table1", data="demo", paper_dataset=paper_dataset)
    tables = {p.label: p.paper_table for p in config.pipelines}
    assert {tables[m] for m in ("DDPM", "pDDPM", "cDDPM", "mDDPM")} == {table}
    assert tables["AE"] == tables["RASALoRE"] == 1
    rows = aggregate([], config)
    ddpm = next(r for r in rows if r["pipeline"] == "DDPM" and r["metric"] == "dice")
    assert ddpm["paper_value"] == pytest.approx(ddpm_dice)
    overview = render_overview(rows, config)
    line = next(x for x in overview.splitlines() if x.startswith("| DDPM"))
    assert f"({100 * ddpm_dice:.2f} T{table}) n.c." in line
    assert "appendix Tables 14" in overview


def test_appendix_numbers_are_the_papers():
    # Sharma et al., arXiv 2510.08052v2, appendix B.2.5, Tables 14 and 15 (Dice, AUPRC in %).
    assert (paper_number("cDDPM", "BraTS21", 14).dice_pct, paper_number("cDDPM", "BraTS21", 14).auprc_pct) == (
        27.59,
        39.86,
    )
    assert paper_number("mDDPM", "BraTS20", 15).auprc_pct == 51.14
    assert paper_number("DDPM", "BraTS20") is None, "Table 1 has no diffusion rows"


def test_tables_without_appendix_rows_keep_the_short_legend():
    config = preset("rasalore-table1", data="demo", paper_dataset="MSD")
    assert "appendix Tables 14" not in render_overview(aggregate([], config), config)
