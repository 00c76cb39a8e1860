"""lm-eval's own command line with the harness backend registered:

    python -m harness.api --model harness-chat-api \
        --model_args model=gpt-4o-mini,api_key_env=OPENAI_API_KEY --tasks helpdesk_en --include_path tasks/helpdesk \
        --apply_chat_template --limit 50
"""

from lm_eval.__main__ import cli_evaluate

import harness.api.lm  # noqa: F401 - registers `harness-chat-api`

if __name__ == "__main__":
    cli_evaluate()
