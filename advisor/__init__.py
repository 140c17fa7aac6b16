"""advisor: decide between prompting, retrieval and post-training, explain why, and route to a plan.

>>> from advisor import advise, TaskSpec
>>> rec = advise(TaskSpec(description="Strictly follow our 25-point policy", num_instructions=25,
...                       labeled_examples=8000))
>>> rec.approach, rec.stages
('post_training', ['sft'])

Importing this package does not import torch; only `route()` and dataset inspection load heavy modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TaskSpec": "advisor.spec",
    "advise": "advisor.decide",
    "Recommendation": "advisor.recommendation",
    "Reason": "advisor.recommendation",
    "DatasetInfo": "advisor.inspection",
    "PromptBaseline": "advisor.baseline",
    "RULES": "advisor.rules",
    "Rule": "advisor.rules",
    "render_decision_guide": "advisor.guide",
    "Alternative": "advisor.recommendation",
    "ModelInfo": "advisor.model_info",
    "ComputePlan": "advisor.compute",
    "CompareSuggestion": "advisor.crosscheck",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
