"""What one run writes: its directory layout, environment, tables, maps and figures.

The pipeline drives a run through this surface::

    run = RunDirectory.open(out, config_fingerprint=config_fingerprint(config), resume=resume)
    run.write_config(config)
    run.write_environment(capture_environment(device=device, seed=seed))
    if not run.stage_done("pseudo-masks", key):
        run.save_stage("pseudo-masks", key, {"soft": soft, "masks": masks}, meta={})
    write_case_rows(rows, run, columns={"run_id": run.run_id, "seed": seed})
    write_summary(summarise(rows), run, header={...}, labels={...})
    run.mark("finished")

Every file is written atomically (temporary sibling, fsync, ``os.replace``).
"""

from __future__ import annotations

from wsad_core._atomic import (
    atomic_save_npz,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
)
from wsad_core.results._layout import case_file_stem, check_case_file_stems
from wsad_core.results._markdown import is_upper_bound
from wsad_core.results._stages import StageStore
from wsad_core.results.environment import capture_environment
from wsad_core.results.nifti import read_map_volume, write_map_volume
from wsad_core.results.overlays import choose_overlay_slices, radiological_view, save_overlay
from wsad_core.results.rundir import RunDirectory, RunStatus, config_fingerprint, read_run_config
from wsad_core.results.tables import read_case_rows, read_summary, summarise, write_case_rows, write_summary

__all__ = [
    "RunDirectory",
    "StageStore",
    "RunStatus",
    "atomic_save_npz",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "capture_environment",
    "case_file_stem",
    "check_case_file_stems",
    "choose_overlay_slices",
    "config_fingerprint",
    "is_upper_bound",
    "read_case_rows",
    "read_map_volume",
    "read_run_config",
    "radiological_view",
    "read_summary",
    "save_overlay",
    "summarise",
    "write_case_rows",
    "write_map_volume",
    "write_summary",
]
