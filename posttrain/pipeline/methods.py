"""Typed `Trainer` entries for the built-in methods: generated from their settings classes by
`python -m posttrain.pipeline.methodgen`; do not edit by hand (a test keeps it current).

A plug-in method (`posttrain.stages.register`) is reached with `Trainer.add_stage(kind, data, **settings)`
or, untyped, as `Trainer().<kind>(...)`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypedDict

from typing_extensions import Self, Unpack

from posttrain.config import LoraSettings, MixSource


class StageOptions(TypedDict, total=False):
    """The settings every built-in method takes, as keywords."""

    epochs: float
    max_steps: int | None
    learning_rate: float | None
    batch_size: int
    grad_accum: int
    max_length: int
    lr_scheduler: Literal['linear', 'cosine', 'constant', 'constant_with_warmup']
    warmup_ratio: float
    weight_decay: float
    lora: LoraSettings | Mapping[str, object] | bool | None
    precision: Literal['auto', 'fp32', 'bf16', 'fp16']
    weights: Literal['auto', 'fp32', 'bf16']
    optimizer: Literal['auto', 'adamw_torch_fused', 'adamw_kahan', 'adamw_8bit_sr']
    gradient_checkpointing: bool | None
    lean_layers: bool | None
    save_steps: int | None
    logging_steps: int
    trl_args: Mapping[str, object]
    mix: Sequence[MixSource | Mapping[str, object]]


class PretrainOptions(StageOptions, total=False):
    """The settings of a pretrain stage (`posttrain.stages.pretrain.PretrainSettings`), as keywords."""

    padding_free: bool | None


class SFTOptions(StageOptions, total=False):
    """The settings of a sft stage (`posttrain.stages.sft.SFTSettings`), as keywords."""

    system: str | None
    chat_template: str | None
    padding_free: bool | None


class DPOOptions(StageOptions, total=False):
    """The settings of a dpo stage (`posttrain.stages.dpo.DPOSettings`), as keywords."""

    beta: float
    loss_type: str | Sequence[str]
    loss_weights: Sequence[float] | None
    precompute_ref: bool
    system: str | None


class GRPOOptions(StageOptions, total=False):
    """The settings of a grpo stage (`posttrain.stages.grpo.GRPOSettings`), as keywords."""

    rewards: Callable[..., object] | str | Sequence[Callable[..., object] | str]
    reward_weights: Sequence[float] | None
    num_generations: int
    max_completion_length: int
    temperature: float
    beta: float
    reward_timeout_s: float
    use_vllm: bool
    vllm_mode: Literal['colocate', 'server']
    micro_batch_size: int | None
    system: str | None
    epsilon: float
    epsilon_high: float | None
    mask_truncated_completions: bool
    num_iterations: int
    allow_no_learning: bool
    tools: Callable[..., object] | str | Sequence[Callable[..., object] | str]
    environment: object
    max_tool_turns: int
    tool_timeout_s: float
    chat_template: str | None
    loss_type: Literal['grpo', 'dr_grpo', 'dapo', 'bnpo', 'cispo', 'sapo', 'luspo', 'vespo']
    importance_sampling_level: Literal['token', 'sequence']
    delta: float | None
    scale_rewards: Literal['group', 'batch', 'none']


class KTOOptions(StageOptions, total=False):
    """The settings of a kto stage (`posttrain.stages.kto.KTOSettings`), as keywords."""

    beta: float
    loss_type: Literal['kto', 'apo_zero_unpaired']
    desirable_weight: float
    undesirable_weight: float
    precompute_ref: bool
    system: str | None


class RLOOOptions(StageOptions, total=False):
    """The settings of a rloo stage (`posttrain.stages.rloo.RLOOSettings`), as keywords."""

    rewards: Callable[..., object] | str | Sequence[Callable[..., object] | str]
    reward_weights: Sequence[float] | None
    num_generations: int
    max_completion_length: int
    temperature: float
    beta: float
    reward_timeout_s: float
    use_vllm: bool
    vllm_mode: Literal['colocate', 'server']
    micro_batch_size: int | None
    system: str | None
    epsilon: float
    epsilon_high: float | None
    mask_truncated_completions: bool
    num_iterations: int
    allow_no_learning: bool
    tools: Callable[..., object] | str | Sequence[Callable[..., object] | str]
    environment: object
    max_tool_turns: int
    tool_timeout_s: float
    chat_template: str | None
    normalize_advantages: bool


class DistillOptions(StageOptions, total=False):
    """The settings of a distill stage (`posttrain.stages.distill.DistillSettings`), as keywords."""

    system: str | None
    chat_template: str | None
    padding_free: bool | None
    teacher: str
    max_new_tokens: int
    temperature: float
    top_p: float
    generation_batch_size: int


class GKDOptions(StageOptions, total=False):
    """The settings of a gkd stage (`posttrain.stages.gkd.GKDSettings`), as keywords."""

    teacher: str
    beta: float
    max_completion_length: int
    temperature: float
    top_p: float
    system: str | None


class StageMethods:
    """One method per built-in stage kind; each adds that stage (`add_stage`)."""

    def add_stage(self, kind: str, data: object, /, **settings: object) -> Self:
        raise NotImplementedError

    def pretrain(self, corpus: object, **settings: Unpack[PretrainOptions]) -> Self:
        """Add a pretrain stage: continued pre-training: next-token loss on every token of raw domain text.

        Data: raw domain text: rows like {'text': '...'} or .txt/.md files (streamed: load_data(path,
        streaming=True) or a datasets.IterableDataset, with max_steps).

        Settings (PretrainSettings; `trl_args` takes any other field of trl.SFTConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            padding_free = None. Pack each batch's rows into one sequence with attention kept per row (no padding
                computed; rows in the sampler's order) instead of padded, length-grouped batches. None: the device's
                default (on CPU; shown in plan()).
        """
        return self.add_stage("pretrain", corpus, **settings)

    def sft(self, data: object, **settings: Unpack[SFTOptions]) -> Self:
        """Add a sft stage: supervised fine-tuning: imitate answers, loss on the assistant's tokens only.

        Data: prompt-response rows like {'prompt': '2+2?', 'completion': '4'} or chats {'messages': [...]} (tool
        calls and a 'tools' column included; ShareGPT and OpenAI exports are converted).

        Settings (SFTSettings; `trl_args` takes any other field of trl.SFTConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            system = None. System prompt added to rows that have none.
            chat_template = None. Chat template to train (and save) the model with: 'chatml-tools' (built in,
                renders tools and tool calls), a .jinja file path, or Jinja text. None: the model's own.
            padding_free = None. Pack each batch's rows into one sequence with attention kept per row (no padding
                computed; rows in the sampler's order) instead of padded, length-grouped batches. None: the device's
                default (on CPU; shown in plan()).
        """
        return self.add_stage("sft", data, **settings)

    def dpo(self, data: object, **settings: Unpack[DPOOptions]) -> Self:
        """Add a dpo stage: direct preference optimisation: prefer chosen over rejected answers, against the input
        model.

        Data: preference rows like {'prompt': ..., 'chosen': ..., 'rejected': ...}.

        Settings (DPOSettings; `trl_args` takes any other field of trl.DPOConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            beta = 0.1. Strength of the pull toward the reference model.
            loss_type = 'sigmoid'. TRL's DPO loss (sigmoid, ipo, hinge, ...), or several to combine, e.g.
                ['sigmoid', 'sft'] (RPO: DPO plus NLL on chosen).
            loss_weights = None. One weight per loss in `loss_type` (default 1 each).
            precompute_ref = True. Reference log-probs once, before training.
            system = None.
        """
        return self.add_stage("dpo", data, **settings)

    def grpo(self, prompts: object, **settings: Unpack[GRPOOptions]) -> Self:
        """Add a grpo stage: online RL: sample a group of answers per prompt, score them with rewards, update.

        Data: prompt rows with a reference answer like {'prompt': 'What is 3*4?', 'answer': '12'}.

        Settings (GRPOSettings; `trl_args` takes any other field of trl.GRPOConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            rewards = []. Reward functions or dotted import paths (may be left out when `environment` scores
                episodes with its own get_reward).
            reward_weights = None.
            num_generations = 4. Samples per prompt (the group).
            max_completion_length = 128.
            temperature = 1.0.
            beta = 0.0. KL penalty toward the input model. 0 (TRL's default) loads no reference model; use e.g. 0.04
                to stay closer to it.
            reward_timeout_s = 10.0. Per-call limit on a reward function.
            use_vllm = False. Generate with vLLM (GPU); needs vllm installed.
            vllm_mode = 'colocate'.
            micro_batch_size = None. Completions per forward/backward pass: a step's batch_size * num_generations
                completions are sampled together, then trained on in chunks of this size with gradients accumulated
                (the same update, less memory). Default: 4 on CPU, the whole batch on GPU.
            system = None.
            epsilon = 0.2. Lower clipping range of the importance ratio.
            epsilon_high = None. Upper clipping range (DAPO's clip-higher: 0.28); None: epsilon. Under 'cispo', the
                cap on the ratio (ScaleRL: 5.0).
            mask_truncated_completions = False. Leave answers cut at max_completion_length out of the loss (DAPO).
            num_iterations = 1. Updates per generated batch (the paper's mu); > 1 makes the clipping take effect.
            allow_no_learning = False. Keep the stage as done even when it could not learn: a reward failed on
                (nearly) every completion, or the rewards never differed within a group. Off: such a stage fails
                with the reason.
            tools = []. Functions (or dotted paths) the model may call during an episode: typed, with a docstring
                describing each argument.
            environment = None. A class (or factory, or dotted path) whose instances have reset(**row), tool methods
                and optionally get_reward(): one per episode.
            max_tool_turns = 4. Tool-calling rounds an episode may take before its answer must stand.
            tool_timeout_s = 10.0. Per-call limit on a tool; a call past it (or that raises) gets an error message
                as the tool's reply.
            chat_template = None. Chat template to sample (and save) with: 'chatml-tools' (built in) for a model
                whose own drops tools, a .jinja path or Jinja text. None: the model's own.
            loss_type = 'dapo'. How token losses are weighted and summed: 'dapo' (TRL's default), 'grpo', 'dr_grpo',
                'bnpo', 'cispo', 'sapo', 'luspo' (needs importance_sampling_level='sequence'), 'vespo'.
            importance_sampling_level = 'token'. 'sequence': one importance ratio per answer (GSPO, with
                loss_type='grpo').
            delta = None. Two-sided clipping: cap on the ratio for negative advantages (INTELLECT-2); > 1 + epsilon.
            scale_rewards = 'group'. Divide advantages by the std of the group, of the batch, or not at all (Dr.
                GRPO).
        """
        return self.add_stage("grpo", prompts, **settings)

    def kto(self, data: object, **settings: Unpack[KTOOptions]) -> Self:
        """Add a kto stage: KTO: learn from single answers labelled desirable or not, against the input model.

        Data: labelled answers like {'prompt': 'Who are you?', 'completion': 'I am Ava.', 'label': true}.

        Settings (KTOSettings; `trl_args` takes any other field of trl.KTOConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            beta = 0.1. Strength of the pull toward the reference model.
            loss_type = 'kto'.
            desirable_weight = 1.0. Weight of the loss on answers labelled true; raise it when they are rarer than
                the false ones.
            undesirable_weight = 1.0. Weight of the loss on answers labelled false.
            precompute_ref = True. Reference log-probs once, before training.
            system = None.
        """
        return self.add_stage("kto", data, **settings)

    def rloo(self, data: object, **settings: Unpack[RLOOOptions]) -> Self:
        """Add a rloo stage: online RL: sample a group of answers per prompt, baseline each by the others' mean
        reward.

        Data: prompt rows with a reference answer like {'prompt': 'What is 3*4?', 'answer': '12'}.

        Settings (RLOOSettings; `trl_args` takes any other field of trl.RLOOConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            rewards = []. Reward functions or dotted import paths (may be left out when `environment` scores
                episodes with its own get_reward).
            reward_weights = None.
            num_generations = 4. Samples per prompt (the group).
            max_completion_length = 128.
            temperature = 1.0.
            beta = 0.05. KL penalty toward the input model, subtracted from the reward (TRL's default 0.05 keeps a
                frozen copy of the input model; 0 loads none).
            reward_timeout_s = 10.0. Per-call limit on a reward function.
            use_vllm = False. Generate with vLLM (GPU); needs vllm installed.
            vllm_mode = 'colocate'.
            micro_batch_size = None. Completions per forward/backward pass: a step's batch_size * num_generations
                completions are sampled together, then trained on in chunks of this size with gradients accumulated
                (the same update, less memory). Default: 4 on CPU, the whole batch on GPU.
            system = None.
            epsilon = 0.2. Lower clipping range of the importance ratio.
            epsilon_high = None. Upper clipping range (DAPO's clip-higher: 0.28); None: epsilon. Under 'cispo', the
                cap on the ratio (ScaleRL: 5.0).
            mask_truncated_completions = False. Leave answers cut at max_completion_length out of the loss (DAPO).
            num_iterations = 1. Updates per generated batch (the paper's mu); > 1 makes the clipping take effect.
            allow_no_learning = False. Keep the stage as done even when it could not learn: a reward failed on
                (nearly) every completion, or the rewards never differed within a group. Off: such a stage fails
                with the reason.
            tools = []. Functions (or dotted paths) the model may call during an episode: typed, with a docstring
                describing each argument.
            environment = None. A class (or factory, or dotted path) whose instances have reset(**row), tool methods
                and optionally get_reward(): one per episode.
            max_tool_turns = 4. Tool-calling rounds an episode may take before its answer must stand.
            tool_timeout_s = 10.0. Per-call limit on a tool; a call past it (or that raises) gets an error message
                as the tool's reply.
            chat_template = None. Chat template to sample (and save) with: 'chatml-tools' (built in) for a model
                whose own drops tools, a .jinja path or Jinja text. None: the model's own.
            normalize_advantages = False. Scale the advantages to unit variance over the batch.
        """
        return self.add_stage("rloo", data, **settings)

    def distill(self, data: object, **settings: Unpack[DistillOptions]) -> Self:
        """Add a distill stage: distillation: a teacher answers the prompts once, the student learns its answers
        (SFT).

        Data: prompt rows like {'prompt': 'Explain recursion.'} (the teacher writes the answers).

        Settings (DistillSettings; `trl_args` takes any other field of trl.SFTConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            system = None. System prompt added to rows that have none.
            chat_template = None. Chat template to train (and save) the model with: 'chatml-tools' (built in,
                renders tools and tool calls), a .jinja file path, or Jinja text. None: the model's own.
            padding_free = None. Pack each batch's rows into one sequence with attention kept per row (no padding
                computed; rows in the sampler's order) instead of padded, length-grouped batches. None: the device's
                default (on CPU; shown in plan()).
            teacher = PydanticUndefined. The teacher: 'default', a local model folder or a hub id (read from the
                local cache only when offline).
            max_new_tokens = 256. Longest teacher answer, in tokens.
            temperature = 0.0. 0: greedy answers; > 0: sampled at this temperature.
            top_p = 1.0. Nucleus sampling when temperature > 0.
            generation_batch_size = 16. Prompts the teacher answers at once.
        """
        return self.add_stage("distill", data, **settings)

    def gkd(self, data: object, **settings: Unpack[GKDOptions]) -> Self:
        """Add a gkd stage: on-policy distillation: the student answers, the teacher's token distributions teach it.

        Data: prompt rows like {'prompt': 'Explain recursion.'} (the student answers, the teacher scores).

        Settings (GKDSettings; `trl_args` takes any other field of trl.DistillationConfig):
            epochs = 1.0. Passes over the data (ignored when max_steps is set).
            max_steps = None. Stop after this many optimizer steps.
            learning_rate = None. None: a default that suits the stage and whether LoRA is on (its
                StageSpec.default_lr).
            batch_size = 4. Examples per device per step.
            grad_accum = 1. Steps accumulated into one optimizer step.
            max_length = 512. Tokens kept per example (prompt + answer).
            lr_scheduler = 'linear'.
            warmup_ratio = 0.0.
            weight_decay = 0.0.
            lora = None. None: use the Trainer's setting.
            precision = 'auto'. auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
                with AMX or AVX512-BF16), else fp32.
            weights = 'auto'. dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then uses
                AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).
            optimizer = 'auto'. auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi);
                adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused:
                PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.
            gradient_checkpointing = None. Trade compute for memory. None: on only when the estimated peak would not
                fit the GPU.
            lean_layers = None. RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean;
                same computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32
                weights.
            save_steps = None. Checkpoint interval; None: about 4 per stage.
            logging_steps = 1.
            trl_args = {}. Any other field of TRL's config.
            mix = []. Other data mixed in, each a share of the stage's rows, e.g. [{'data': 'general.jsonl',
                'share': 0.2}] to replay general data while a new skill is trained (posttrain.data.mix).
            teacher = PydanticUndefined. The teacher: 'default', a local model folder or a hub id; it must use the
                student's tokenizer.
            beta = 1.0. The divergence (TRL's generalized JSD): 0 forward KL (cover the teacher's modes), 0.5 JSD, 1
                reverse KL (TRL's default: the teacher's main mode).
            max_completion_length = 128. Longest answer the student samples, in tokens.
            temperature = 1.0. Sampling temperature, and of the distributions compared.
            top_p = 1.0.
            system = None.
        """
        return self.add_stage("gkd", data, **settings)
