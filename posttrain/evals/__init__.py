"""Evaluations run before and after every stage, so a user sees what each stage gained and cost.

>>> from posttrain import load_model
>>> from posttrain.evals import EvalSuite, MathAccuracy, Identity, compare_results
>>> suite = EvalSuite([MathAccuracy([{"question": "What is 2 + 3?", "answer": "5"}]),
...                    Identity(name="SmolLM", maker="Hugging Face")])
>>> before = suite.run(*load_model("default"))                    # doctest: +SKIP
>>> print(before.table())                                         # doctest: +SKIP

Every eval validates its rows when built and returns an `EvalResult` with a score, its 95% interval and
per-item details. The generative ones share `GenerativeEval`: they generate through
`posttrain.generation.generate` (batched, greedy, each answer stopped once its verdict is known).
"""

from posttrain.evals.base import Eval, EvalResult, bootstrap_interval, wilson_interval
from posttrain.evals.compare import EvalDelta, compare_results, deltas_table
from posttrain.evals.function_calling import FunctionCalling
from posttrain.evals.episodes import ToolEpisodes
from posttrain.evals.generative import GenerativeEval
from posttrain.evals.harness import LMEvalTask
from posttrain.evals.instruction_following import InstructionFollowing
from posttrain.evals.instructions import CHECKS, check_constraint
from posttrain.evals.likelihood import Perplexity, continuation_logprobs
from posttrain.evals.math_accuracy import MathAccuracy
from posttrain.evals.multiple_choice import MultipleChoice, option_loglikelihoods
from posttrain.evals.qa import Identity, QAAccuracy, normalize_answer
from posttrain.evals.suite import KINDS, EvalSuite, SuiteResult

__all__ = ["CHECKS", "KINDS", "Eval", "EvalDelta", "EvalResult", "EvalSuite", "FunctionCalling", "GenerativeEval",
           "Identity", "InstructionFollowing", "LMEvalTask", "MathAccuracy", "MultipleChoice", "Perplexity",
           "QAAccuracy", "SuiteResult", "ToolEpisodes", "bootstrap_interval", "check_constraint", "compare_results",
           "continuation_logprobs", "deltas_table", "normalize_answer", "option_loglikelihoods", "wilson_interval"]
