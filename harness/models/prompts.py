"""Chat prompt formats of models whose format lives in their remote code rather than in a chat template
(`prompt_format` in conf/model/*.yaml), written as chat templates so lm-eval renders few-shot chat prompts with
them exactly as it renders any other model's, and fine-tuning renders the same strings.

Each string is the one the model's own code builds (the Python each comment names), checked by
tests/unit/test_prompts.py against a transcription of that code (rendered as transformers renders a template):
- chatglm2: ChatGLM2's `tokenizer.build_prompt(query, history)`: "[Round {i}]\\n\\n问：{q}\\n\\n答：{r}\\n\\n" per
  past turn, then "[Round {n}]\\n\\n问：{q}\\n\\n答：". It has no system role: a system text opens the first
  question. Its tokenizer adds its own prefix tokens ([gMASK], sop) when asked for special tokens.
- chatml: Qwen-Chat's `make_context(..., chat_format="chatml")`, with its default system "You are a helpful
  assistant.": "<|im_start|>system\\n{s}<|im_end|>" then "\\n<|im_start|>user\\n{q}<|im_end|>\\n<|im_start|>
  assistant\\n{r}<|im_end|>" per turn, ending "\\n<|im_start|>assistant\\n".
- baichuan2: Baichuan2-Chat's `build_chat_input`: the system text, then per message its role token
  (user_token_id 195 = "<reserved_106>", assistant_token_id 196 = "<reserved_107>") and content, ending with the
  assistant token.
`plain` models get no template (lm-eval's plain few-shot text); `chat_template` uses the tokenizer's own.
"""

from __future__ import annotations

from typing import Any

from harness.compat import ensure_chat_template

CHATGLM2 = (
    "{%- set ns = namespace(round=0, system='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{%- set ns.system = m['content'] ~ '\\n\\n' -%}"
    "{%- elif m['role'] == 'user' -%}{%- set ns.round = ns.round + 1 -%}"
    "{{ '[Round ' ~ ns.round ~ ']\\n\\n问：' ~ (ns.system if ns.round == 1 else '') ~ m['content'] ~ '\\n\\n答：' }}"
    "{%- else -%}{{ m['content'] }}{%- if not loop.last -%}{{ '\\n\\n' }}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
)
CHATML = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{ '<|im_start|>system\\n' ~ messages[0]['content'] ~ '<|im_end|>' }}{%- set rest = messages[1:] -%}"
    "{%- else -%}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>' }}{%- set rest = messages -%}"
    "{%- endif -%}"
    "{%- for m in rest -%}"
    "{{ '\\n<|im_start|>' ~ m['role'] ~ '\\n' ~ m['content'] }}"
    "{%- if not (loop.last and m['role'] == 'assistant') -%}{{ '<|im_end|>' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '\\n<|im_start|>assistant\\n' }}{%- endif -%}"
)
BAICHUAN2 = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{{ m['content'] }}"
    "{%- elif m['role'] == 'user' -%}{{ '<reserved_106>' ~ m['content'] }}"
    "{%- else -%}{{ '<reserved_107>' ~ m['content'] }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<reserved_107>' }}{%- endif -%}"
)
CHAT_FORMATS = {"chatglm2": CHATGLM2, "chatml": CHATML, "baichuan2": BAICHUAN2}
PROMPT_FORMATS = ("plain", "chat_template", *CHAT_FORMATS)


def is_chat(prompt_format: str) -> bool:
    """Prompts go through a chat template (the tokenizer's own, or one of CHAT_FORMATS)."""
    return prompt_format != "plain"


def use_format(tokenizer: Any, prompt_format: str) -> None:
    """Give the tokenizer the model's format as its chat template (for lm-eval and for fine-tuning alike)."""
    ensure_chat_template(tokenizer, getattr(tokenizer, "name_or_path", None))
    if prompt_format in CHAT_FORMATS:
        tokenizer.chat_template = CHAT_FORMATS[prompt_format]
