"""Data cards: scores come from stored records only, and the committed cards match a fresh run."""

from __future__ import annotations

from harness.app.task_card import card_rows, scores_markdown, write_card
from harness.store import Store
from tests.support.records import make_record


def record(model: str, created: str, value: float, task: str = "helpdesk") -> dict:
    return make_record(
        f"{model}-{created}",
        model=model,
        display_name=model.upper(),
        task=task,
        created_at=created,
        metric="contains",
        n=50,
        limit=50,
        score=value,
        stderr=0.061,
        metrics={"exact_match": {"value": 0.0, "stderr": 0.0}},
    ).to_json()


def test_card_keeps_the_latest_untuned_embedded_record_per_model():
    old, new = record("a", "2026-01-01", 0.1), record("a", "2026-02-01", 0.2)
    tuned = record("a", "2026-03-01", 0.9)
    tuned["finetune"]["method"] = "lora"
    other_task = record("b", "2026-01-01", 0.5, task="general_en")
    rows = card_rows([old, new, tuned, other_task], "helpdesk")
    assert [r["cell_id"] for r in rows] == ["a-2026-02-01"]


def test_card_table_numbers():
    md = scores_markdown("helpdesk", [record("a", "2026-02-01", 0.76)])
    # 0.76 +- 1.959964 * 0.061 -> [0.640, 0.880]; exact_match 0/50 -> Wilson [0, 3.8415 / 53.8415] = [0, 0.071]
    assert "| A | 50 (first 50) | 0.760 [0.640, 0.880] | 0.000 [0.000, 0.071] | `a-2026-02-01` |" in md


def test_chance_column_for_multiple_choice():
    from harness.app.task_card import above_chance, chance_level
    from harness.tasks import discover

    assert chance_level(discover()["general_en"][1]) == 0.25
    assert chance_level(discover()["helpdesk_en"][1]) is None
    assert above_chance({"value": 0.53, "stderr": 0.05, "n": 100}, 0.25) == "yes"  # 0.53 - 0.098 = 0.432 > 0.25
    assert above_chance({"value": 0.27, "stderr": 0.0446, "n": 100}, 0.25) == "no (interval reaches 0.25)"  # 0.183


def test_write_card_replaces_only_its_block(tmp_path, monkeypatch):
    import harness.app.task_card as card

    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "README.md").write_text("# t\nintro\n<!-- scores:helpdesk -->\nold\n<!-- /scores:helpdesk -->\nafter\n")
    monkeypatch.setattr(card, "discover", lambda: {"helpdesk": (folder / "t.yaml", {})})
    store = Store(tmp_path / "store")
    store.write(record("a", "2026-02-01", 0.76), [])
    text = write_card("helpdesk", store).read_text()
    assert text.startswith("# t\nintro\n<!-- scores:helpdesk -->\n| model |") and text.endswith(
        "<!-- /scores:helpdesk -->\nafter\n"
    )
    assert "old" not in text


def test_a_chinese_task_card_is_written_in_chinese(tmp_path, monkeypatch):
    """A task whose metadata says `language: zh` gets its card's headings and note in Chinese (the report's zh
    catalogue); the numbers, metric names and cell ids stay as they are. `lang` overrides the task's language."""
    import harness.app.task_card as card
    from harness.tasks import discover

    doc = discover()["helpdesk_zh"][1]
    assert doc["metadata"]["harness"]["language"] == "zh"
    folder = tmp_path / "t"
    folder.mkdir()
    monkeypatch.setattr(card, "discover", lambda: {"helpdesk_zh": (folder / "t.yaml", doc)})
    store = Store(tmp_path / "store")
    store.write(record("a", "2026-02-01", 0.76, task="helpdesk_zh"), [])
    text = write_card("helpdesk_zh", store).read_text(encoding="utf-8")
    assert "| 模型 | 题数 | contains [95% 置信区间] | exact_match [95% 置信区间] | 单元 |" in text
    assert "| A | 50（前 50 题） | 0.760 [0.640, 0.880] | 0.000 [0.000, 0.071] | `a-2026-02-01` |" in text
    assert "未微调的模型，贪心解码" in text and "| model |" not in text
    english = write_card("helpdesk_zh", store, lang="en").read_text(encoding="utf-8")
    assert "| model | items | contains [95% CI] |" in english and "模型" not in english
