"""Types of the names `posttrain/__init__.py` loads lazily (on first use), for type checkers and editors."""

from posttrain.pipeline.builder import Trainer as Trainer
from posttrain.pipeline.result import RunResult as RunResult
from posttrain.pipeline.result import StageResult as StageResult
from posttrain.models import load_model as load_model
from posttrain.models import load_tokenizer as load_tokenizer
from posttrain.testing import tiny_model as tiny_model
from posttrain.generation import generate as generate
from posttrain.data import load_data as load_data
from posttrain.data import DataFormat as DataFormat
from posttrain.errors import PosttrainError as PosttrainError
from posttrain.errors import DataError as DataError
from posttrain.errors import ConfigError as ConfigError
from posttrain import config as config
from posttrain import data as data
from posttrain import errors as errors
from posttrain import evals as evals
from posttrain import generation as generation
from posttrain import models as models
from posttrain import rewards as rewards
from posttrain import stages as stages
from posttrain import testing as testing

__version__: str
__all__: list[str]
