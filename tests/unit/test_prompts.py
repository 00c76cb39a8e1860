"""Seed chat formats (harness/models/prompts.py) against transcriptions of the models' own prompt code, on a
zh and an en conversation with a system text and one earlier turn (the shape of a few-shot chat prompt)."""

from __future__ import annotations

from harness.models.prompts import CHAT_FORMATS

SYSTEM = "回答以下问题。"
HISTORY = [("What is 2+2?", "4"), ("中国的首都是哪里？", "北京")]
QUERY = "How many days are in a week?"


def render(fmt: str, msgs: list[dict[str, str]]) -> str:
    """As transformers renders a chat template: sandboxed jinja2 with trim_blocks and lstrip_blocks."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(CHAT_FORMATS[fmt]).render(messages=msgs, add_generation_prompt=True)


def messages(system: str | None = SYSTEM) -> list[dict[str, str]]:
    out = [{"role": "system", "content": system}] if system else []
    for q, r in HISTORY:
        out += [{"role": "user", "content": q}, {"role": "assistant", "content": r}]
    return [*out, {"role": "user", "content": QUERY}]


def chatglm2_build_prompt(query: str, history: list[tuple[str, str]]) -> str:
    # ChatGLM2-6B tokenization_chatglm.py, ChatGLMTokenizer.build_prompt
    prompt = ""
    for i, (old_query, response) in enumerate(history):
        prompt += f"[Round {i + 1}]\n\n问：{old_query}\n\n答：{response}\n\n"
    prompt += f"[Round {len(history) + 1}]\n\n问：{query}\n\n答："
    return prompt


def qwen_make_context(query: str, history: list[tuple[str, str]], system: str) -> str:
    # Qwen-Chat qwen_generation_utils.make_context, chat_format "chatml", as text
    text = f"<|im_start|>system\n{system}<|im_end|>"
    for q, r in history:
        text += f"\n<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n{r}<|im_end|>"
    return text + f"\n<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n"


def baichuan2_build_chat_input(system: str, history: list[tuple[str, str]], query: str) -> str:
    # Baichuan2-Chat generation_utils.build_chat_input, with token 195/196 written as their vocabulary pieces
    text = system
    for q, r in history:
        text += "<reserved_106>" + q + "<reserved_107>" + r
    return text + "<reserved_106>" + query + "<reserved_107>"


def test_chatglm2_renders_its_round_format():
    assert render("chatglm2", messages(None)) == chatglm2_build_prompt(QUERY, HISTORY)
    # no system role in ChatGLM2: the system text opens the first question
    assert render("chatglm2", messages()) == chatglm2_build_prompt(
        QUERY, [(SYSTEM + "\n\n" + HISTORY[0][0], "4"), HISTORY[1]]
    )
    assert render("chatglm2", [{"role": "user", "content": "你好"}]) == "[Round 1]\n\n问：你好\n\n答："


def test_qwen_chat_renders_chatml_with_its_default_system():
    assert render("chatml", messages()) == qwen_make_context(QUERY, HISTORY, SYSTEM)
    assert render("chatml", messages(None)) == qwen_make_context(QUERY, HISTORY, "You are a helpful assistant.")


def test_baichuan2_chat_renders_its_role_tokens():
    assert render("baichuan2", messages()) == baichuan2_build_chat_input(SYSTEM, HISTORY, QUERY)
    assert render("baichuan2", messages(None)) == baichuan2_build_chat_input("", HISTORY, QUERY)


def test_a_seed_chat_format_makes_the_cell_a_chat_cell_and_the_lm_eval_command_says_how():
    from harness.plan.cells import plan_cell
    from tests.support.run import compose_cfg

    chat = plan_cell(compose_cfg(["model=qwen-14b-chat", "finetune=none"]))
    base = plan_cell(compose_cfg(["model=qwen-14b", "finetune=none"]))
    assert (chat.apply_chat_template, base.apply_chat_template) == (True, False)
    assert chat.identity["eval"]["apply_chat_template"] is True  # a chat prompt is another cell

    from harness.evaluate.lmeval import cli_command

    cmd = cli_command(chat, {"pretrained": "Qwen/Qwen-14B-Chat"}, "cuda")
    assert "--apply_chat_template" in cmd
    assert cmd.endswith("# with the tokenizer's chat_template set to the chatml format of harness/models/prompts.py")
