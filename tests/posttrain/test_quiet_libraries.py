"""What a run shows is ours: the library notices `quiet_libraries` drops, and the ones it keeps."""

import logging


def _shown(logger_name: str, message: str) -> bool:
    record = logging.LogRecord(logger_name, logging.WARNING, __file__, 1, message, None, None)
    return bool(logging.getLogger(logger_name).filter(record))


def test_a_resumed_run_of_a_tied_head_model_does_not_warn_of_its_head_but_other_missing_keys_still_show():
    from posttrain.progress import quiet_libraries

    tied = "There were missing keys in the checkpoint model loaded: ['lm_head.weight']."
    other = "There were missing keys in the checkpoint model loaded: ['model.layers.0.mlp.up_proj.weight']."
    quiet_libraries()
    quiet_libraries()                                     # twice: one filter, not two
    assert not _shown("transformers.trainer", tied)
    assert _shown("transformers.trainer", other)
    assert sum(type(f).__name__ == "_TiedHeadOnResume" for f in logging.getLogger("transformers.trainer").filters) == 1


def test_trls_repeated_no_reward_notice_is_dropped_and_other_grpo_warnings_show():
    from posttrain.progress import quiet_libraries

    quiet_libraries()
    assert not _shown("trl.trainer.grpo_trainer", "All reward functions returned None for the following kwargs: {}")
    assert _shown("trl.trainer.grpo_trainer", "Some other warning")


def test_the_notice_on_ordering_checkpoints_saved_within_a_second_is_dropped_and_other_notices_show():
    from posttrain.progress import quiet_libraries

    quiet_libraries()
    assert not _shown("transformers.trainer_utils",
                      "mtime may not be reliable on this filesystem, falling back to numerical ordering")
    assert _shown("transformers.trainer_utils", "Deleting older checkpoint [x] due to args.save_total_limit")
