"""The pipeline, in the order a run goes through it.

- `builder`: `Trainer`, the immutable chain a user builds (`Trainer(model).sft(...).dpo(...)`); its typed
  method entries are generated into `methods` by `methodgen`.
- `yamlspec`: the same chain as a pipeline file (`Trainer.from_yaml`, `to_yaml`), checked in one pass.
- `compile`: `compile_run(trainer)` works every stage out once into frozen `StageJob`s; `Plan` is its view.
- `execute`: `run_pipeline` runs the compiled jobs, resumable, one run per folder.
- `records`: what a finished stage leaves in `NN-kind/stage.json`.
- `run_data`: `RunData` / `StageResult`, a run's data, built from the run or read back from its folder; the
  report, the gate and the export read these types.
- `result`: `RunResult`, a `RunData` that loads, reports, gates and exports itself.
- `report`, `report_chain`: the markdown and HTML report with its plots.
- `export`: a serving-ready folder (safetensors, model card, GGUF, Ollama Modelfile).
"""
