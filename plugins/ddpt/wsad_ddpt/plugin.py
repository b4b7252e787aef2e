"""Hook implementations of wsad-ddpt: the ``ddpt`` pseudo-mask generator.

Imports nothing heavy: torch and open_clip load only when a run builds the generator, so
``wsad --help`` and ``wsad plugins`` stay fast.
"""

from __future__ import annotations

from wsad_core import GeneratorSpec, IOContract, WeightsInfo, hookimpl
from wsad_ddpt import __version__
from wsad_ddpt._factories import build_ddpt, load_ddpt
from wsad_ddpt._weights import ENV_VAR, OPENAI_VIT_B_32_URL, locate
from wsad_ddpt.config import DDPTOptions

__all__ = ["wsad_register_generators"]


@hookimpl
def wsad_register_generators() -> list[GeneratorSpec]:
    """The ``ddpt`` generator."""
    return [
        GeneratorSpec(
            name="ddpt",
            summary="DDPT: CoOp + deep VPT + class-aware visual prompts on a frozen CLIP ViT-B/32, trained on "
            "slice labels; last-block CLS attention as pseudo-mask (RASALoRE stage 1).",
            options=DDPTOptions,
            factory=build_ddpt,
            loader=load_ddpt,
            version=__version__,
            citation="Sharma, Jaganathan, Palaniappan, 'RASALoRE', BMVC 2025 (arXiv 2510.08052), Sec. 2.1 and "
            "appendix B; DPT: Xing et al., IEEE TMM 2023",
            license="Apache-2.0 (this implementation); CLIP weights: MIT (OpenAI)",
            weights=WeightsInfo(
                description="OpenAI CLIP ViT-B/32 (open_clip 'ViT-B-32', tag 'openai', QuickGELU)",
                source=f"{OPENAI_VIT_B_32_URL} or Hugging Face timm/vit_base_patch32_clip_224.openai",
                option="weights",
                env_var=ENV_VAR,
                locate=locate,
            ),
            io=IOContract(output_kind="probability", deterministic=True),
        )
    ]
