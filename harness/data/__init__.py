"""Training data as a variable (docs/data.md).

A versioned, content-addressed training set (sets.py), filtered by composable filters that each count what they
removed (filters.py), checked like a task (recheck.py) and described by a data card (card.py). Fine-tuning reads
it through `finetune.train_data`; `finetune.label_noise` corrupts a stated share of the answers
(harness/finetune/noise.py). The teacher that writes a set, `harness data synth`, is harness/jobs/synth.py.
"""
