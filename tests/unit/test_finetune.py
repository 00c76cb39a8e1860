"""Fine-tuning for real on the CPU: the embedded SmolLM2-135M, real peft adapters, lm-eval on the result.

The tests that train a real model are marked slow; the README's test command and CI run them. The model-free
ones (data slices, checkpoint selection, loss bookkeeping) run in plain `pytest`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.finetune.data import seeded_slice
from harness.finetune.train import (
    METER_FILE,
    StopOnSigterm,
    _meter_callback,
    loss_history,
    resume_point,
)

SMOL = "model=smollm2-135m"


def test_seeded_slices_are_nested():
    docs = list(range(1000))
    assert seeded_slice(docs, 100, 7) == seeded_slice(docs, 300, 7)[:100]
    assert seeded_slice(docs, 100, 7) != seeded_slice(docs, 100, 8)


# -- resume after a kill ----------------------------------------------------------------------------------------


def _checkpoint(folder: Path, step: int, marked: bool) -> Path:
    ckpt = folder / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "adapter_model.safetensors").write_bytes(b"w")
    if marked:
        (ckpt / METER_FILE).write_text('{"train_seconds": 1.0}')
    return ckpt


def test_resume_point_is_the_newest_marked_checkpoint_and_the_rest_is_pruned(tmp_path, caplog):
    assert resume_point(tmp_path) is None  # no checkpoint yet: train from the start
    _checkpoint(tmp_path, 2, marked=True)
    _checkpoint(tmp_path, 4, marked=True)  # a kill between marking 4 and rotating 2 away
    _checkpoint(tmp_path, 6, marked=False)  # a kill while 6 was written: transformers would resume from it
    (tmp_path / "checkpoint-6" / f"{METER_FILE}.tmp").write_text("{")  # ... or while its marker was
    assert resume_point(tmp_path, prune=False) == tmp_path / "checkpoint-4"  # other ranks only look
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert resume_point(tmp_path) == tmp_path / "checkpoint-4"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-4"]
    assert "deleting checkpoint-6: incomplete" in caplog.text and "checkpoint-2" not in caplog.text
    # Rotation is the same call, made once the newer checkpoint is marked: before that, 4 stays.
    _checkpoint(tmp_path, 10, marked=False)
    assert resume_point(tmp_path, prune=False) == tmp_path / "checkpoint-4"
    (tmp_path / "checkpoint-10" / METER_FILE).write_text("{}")
    assert resume_point(tmp_path) == tmp_path / "checkpoint-10"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-10"]


def test_loss_history_merges_the_logs_forced_at_checkpoints_and_means_over_every_step():
    # logging_steps=4, 7 steps; checkpoints forced logs at steps 1 and 6; the last step is always logged.
    logged = [
        {"step": 1, "loss": 3.0},
        {"step": 4, "loss": 2.0},
        {"step": 6, "loss": 1.0},
        {"step": 7, "loss": 0.5},
        {"step": 7, "train_loss": 9.9},
    ]
    curve, mean = loss_history(logged, 4)
    # What an uninterrupted run logs: step 4 = (3*1 + 2*3) / 4, step 7 = (1*2 + 0.5*1) / 3.
    assert curve == [{"step": 4, "loss": 2.25}, {"step": 7, "loss": 0.8333}]
    assert mean == pytest.approx((3 + 2 * 3 + 1 * 2 + 0.5) / 7)
    assert loss_history([], 5) == ([], None)


def test_meter_saves_by_time_and_at_epoch_end_and_marks_then_rotates(tmp_path):
    from transformers import TrainerControl

    old = _checkpoint(tmp_path, 3, marked=True)
    meter = _meter_callback(tmp_path, already=10.0, resumed_step=3, every_s=0.0, stop=StopOnSigterm())
    args, state = SimpleNamespace(should_save=True), SimpleNamespace(global_step=4, max_steps=8)
    control = TrainerControl()
    meter.on_step_end(args, state, control)  # save_every_s=0: due after every step, whatever save_steps says
    assert control.should_save and control.should_log  # a checkpoint's log history holds every loss
    _checkpoint(tmp_path, 4, marked=False)  # what Trainer's _save_checkpoint writes before calling on_save
    assert old.exists()  # until the new one is marked
    meter.on_save(args, state, control)
    marker = json.loads((tmp_path / "checkpoint-4" / METER_FILE).read_text())
    assert marker["step"] == 4 and marker["train_seconds"] >= 10.0 and not old.exists()
    assert not (tmp_path / "checkpoint-4" / f"{METER_FILE}.tmp").exists()
    control = TrainerControl()
    meter.on_epoch_end(args, state, control)  # step 4 is saved already: never written a second time
    assert not control.should_save
    slow = _meter_callback(tmp_path, already=0.0, resumed_step=0, every_s=3600.0, stop=StopOnSigterm())
    slow.on_step_end(args, state, control)
    assert not control.should_save and not control.should_log
    slow.on_epoch_end(args, state, control)
    assert control.should_save and control.should_log
    control, state = TrainerControl(), SimpleNamespace(global_step=8, max_steps=8)
    slow.on_step_end(args, state, control)
    assert control.should_log  # the last step's loss is always logged


def test_a_sigterm_while_training_saves_at_the_step_s_end_stops_then_exits(tmp_path):
    """What a scheduler's SIGTERM (scancel, requeue, preemption) does to a training in this process: the next
    step end saves and stops, and leaving the block exits with 143; the previous handler is back afterwards."""
    import signal

    from transformers import TrainerControl

    before = signal.getsignal(signal.SIGTERM)
    stop = StopOnSigterm()
    meter = _meter_callback(tmp_path, already=0.0, resumed_step=0, every_s=3600.0, stop=stop)
    args, state = SimpleNamespace(should_save=True), SimpleNamespace(global_step=2, max_steps=8)
    with pytest.raises(SystemExit) as ended, stop:
        control = TrainerControl()
        meter.on_step_end(args, state, control)
        assert not control.should_save and not control.should_training_stop  # an ordinary step
        os.kill(os.getpid(), signal.SIGTERM)
        meter.on_step_end(args, state, control)
        assert control.should_save and control.should_training_stop and control.should_log
    assert ended.value.code == 143 and signal.getsignal(signal.SIGTERM) is before
    # USR2 (Slurm's time-limit warning): the same save and stop, then the handler that was there (submitit's
    # requeue); a signal after the last step only goes to that handler
    seen: list[int] = []
    old = signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        stop = StopOnSigterm()
        meter = _meter_callback(tmp_path, already=0.0, resumed_step=0, every_s=3600.0, stop=stop)
        with pytest.raises(SystemExit) as ended, stop:
            os.kill(os.getpid(), signal.SIGUSR2)
            control = TrainerControl()
            meter.on_step_end(args, state, control)
            assert control.should_save and control.should_training_stop
        assert ended.value.code == 128 + signal.SIGUSR2 and seen == [signal.SIGUSR2]
        with StopOnSigterm():
            os.kill(os.getpid(), signal.SIGUSR2)  # no step ends after it
        assert seen == [signal.SIGUSR2, signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, old)
