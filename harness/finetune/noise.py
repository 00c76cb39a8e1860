"""Label noise as a controlled variable: `finetune.label_noise=p` corrupts round(p x n) training answers.

Which answers, and what each becomes, is drawn with the run's seed, so a noise level names one data set. Every
corrupted answer is wrong but plausible, taken from what the task's own answers look like:
- a JSON answer gets one leaf replaced by the value the same leaf has in another example (a wrong intent list,
  a wrong slot or field value), the rest of the object unchanged;
- a text answer is replaced by another example's different answer (a wrong policy fact).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from harness.tasks.datagen import rng


def _leaves(obj: Any, path: str = "") -> dict[str, Any]:
    """{dotted path: value} of a JSON object; lists are leaves (an intent list is one answer)."""
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_leaves(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: obj}


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        obj = obj[p]
    obj[last] = value


def _as_json(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def corrupt(
    docs: list[dict[str, Any]], target: str, share: float, seed: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """(docs with round(share x len) answers made wrong, {what was corrupted: how many}). The input is unchanged;
    an answer with no different value to take (every example agrees) stays as it is and is not counted."""
    if share <= 0 or not docs:
        return list(docs), Counter()
    r = rng(seed, "label_noise")
    picked = sorted(r.sample(range(len(docs)), round(share * len(docs))))
    parsed = [_as_json(d.get(target)) for d in docs]
    json_answers = all(p is not None for p in parsed)
    # the values each answer (or each JSON leaf) takes somewhere in the data: the pool of plausible wrong ones
    pools: dict[str, list[Any]] = {}
    if json_answers:
        seen: dict[str, dict[str, Any]] = {}
        for p in parsed:
            for path, v in _leaves(p).items():
                seen.setdefault(path, {})[_key(v)] = v
        pools = {path: [vals[k] for k in sorted(vals)] for path, vals in seen.items()}
    else:
        pools = {target: sorted({str(d.get(target)) for d in docs})}
    out, kinds = list(docs), Counter()
    for i in picked:
        if json_answers:
            obj = json.loads(docs[i][target])
            leaves = _leaves(obj)
            paths = [p for p in sorted(leaves) if any(_key(v) != _key(leaves[p]) for v in pools.get(p, []))]
            if not paths:
                continue
            path = r.choice(paths)
            _set(obj, path, r.choice([v for v in pools[path] if _key(v) != _key(leaves[path])]))
            ascii_only = docs[i][target] != json.dumps(json.loads(docs[i][target]), ensure_ascii=False)
            out[i] = {**docs[i], target: json.dumps(obj, ensure_ascii=ascii_only)}
            kinds[f"{target}.{path}"] += 1
        else:
            wrong = [v for v in pools[target] if v != str(docs[i].get(target))]
            if not wrong:
                continue
            out[i] = {**docs[i], target: r.choice(wrong)}
            kinds[target] += 1
    return out, kinds
