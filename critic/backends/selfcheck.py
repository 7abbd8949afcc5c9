"""``python -m critic.backends.selfcheck``: generate a few tokens on the default model.

The Makefile runs it after installing: a natively built llama.cpp loads fine
but segfaults on the first decode on AMX CPUs, so only generating catches it.
"""

from __future__ import annotations

from typing import Any

from critic.backends.llama_cpp import LlamaCppModel


def main() -> int:
    model = LlamaCppModel.default()
    llama = model.load()
    result: dict[str, Any] = llama.create_chat_completion(  # type: ignore[assignment]
        messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0.0
    )
    text = result["choices"][0]["message"]["content"]
    print(f"llama.cpp self-check ok: {model.path.name} generated {text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
