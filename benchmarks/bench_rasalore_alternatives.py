"""Speed-ups tried for RASALoRE's training step on CPU, each against what the fast path uses (issue 13).

* ``torch.compile`` (inductor) of the whole network at ``cpu-small``, batch 16: first step (compilation)
  and the median of 6 steps, against eager;
* attention: ``scaled_dot_product_attention`` (flash kernel for CPU) against the explicit math form,
  forward + backward at the RASA and decoder shapes of ``cpu-small``;
* the up-sampler's transposed convolutions in contiguous against channels-last memory.

Usage::

    python benchmarks/bench_rasalore_alternatives.py [--threads 2] [--skip-compile]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from wsad_rasalore._training import StagePlan, batch_loss
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.lore import lore_embedding
from wsad_rasalore.torch_model import RasaloreNet

sys.path.insert(0, str(Path(__file__).parent))
from _timing import time_call
from bench_rasalore import _batch


def _median_ms(fn, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    return 1000 * time_call(fn, repeats)


def compile_step() -> None:
    options = RasaloreOptions(preset="cpu-small")
    geometry = options.geometry()
    batch = _batch(options, 16)
    plan = StagePlan(("t2",), None, 0, 1, "bench")
    for mode in ("eager", "compile"):
        torch.manual_seed(0)
        net = RasaloreNet(geometry, {"t2": lore_embedding(geometry.num_points, geometry.embed_dim, 0)})
        model = torch.compile(net) if mode == "compile" else net
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step(model=model, net=net, optimizer=optimizer) -> None:  # type: ignore[no-untyped-def]
            net.train()
            optimizer.zero_grad(set_to_none=True)
            batch_loss(model, batch, plan, options, geometry, torch.device("cpu")).backward()
            optimizer.step()

        start = time.perf_counter()
        step()
        first = time.perf_counter() - start
        print(f"train step {mode:8s} first {first:6.1f} s, then median {_median_ms(step, 6):7.0f} ms", flush=True)


def attention() -> None:
    for queries, keys, dim in ((256, 1024, 64), (256, 1024, 16)):
        q = torch.randn(16, 4, queries, dim, requires_grad=True)
        k = torch.randn(16, 4, keys, dim, requires_grad=True)
        v = torch.randn(16, 4, keys, dim, requires_grad=True)

        def fused(q=q, k=k, v=v) -> None:  # type: ignore[no-untyped-def]
            F.scaled_dot_product_attention(q, k, v).sum().backward()

        def explicit(q=q, k=k, v=v, dim=dim) -> None:  # type: ignore[no-untyped-def]
            (torch.softmax(q @ k.transpose(-1, -2) / dim**0.5, -1) @ v).sum().backward()

        print(
            f"attention q {queries} k {keys} head {dim}: fused {_median_ms(fused):6.1f} ms, "
            f"explicit {_median_ms(explicit):6.1f} ms (forward + backward)",
            flush=True,
        )


def transposed_convolutions() -> None:
    for c_in, c_out, side in ((256, 64, 32), (64, 32, 64)):
        for layout in (torch.contiguous_format, torch.channels_last):
            conv = torch.nn.ConvTranspose2d(c_in, c_out, 4, 2, 1).to(memory_format=layout)
            x = torch.randn(16, c_in, side, side).contiguous(memory_format=layout).requires_grad_()

            def run(conv=conv, x=x) -> None:  # type: ignore[no-untyped-def]
                conv(x).sum().backward()

            name = "channels-last" if layout is torch.channels_last else "contiguous"
            print(f"ConvTranspose2d {c_in}->{c_out} at {side}²: {name:13s} {_median_ms(run):6.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    attention()
    transposed_convolutions()
    if not args.skip_compile:
        compile_step()


if __name__ == "__main__":
    main()
