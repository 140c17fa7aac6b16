"""`python -m posttrain.stages`: the registered stages as the markdown table docs/api.md holds."""

from posttrain.stages import stages_markdown

print(stages_markdown())
