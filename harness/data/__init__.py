"""The data stage: training data as a variable (docs/data.md).

`harness data synth` writes a versioned, content-addressed training set for a task with a teacher model
(synth.py), filtered by composable filters that each count what they removed (filters.py), checked like a task
(check.py) and described by a data card (card.py). Fine-tuning reads it through `finetune.train_data` (sets.py);
`finetune.label_noise` corrupts a stated share of the answers (harness/finetune/noise.py).
"""
