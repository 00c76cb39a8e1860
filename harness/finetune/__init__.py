"""The finetune stage: TrainSpec (what to train, content-hashed) -> Artifact (adapter or weights + metering)."""

from harness.spec.finetune import METHODS, TrainSpec, make_train_spec

__all__ = ["METHODS", "TrainSpec", "make_train_spec"]
