"""The baseline for the LLM benchmark: plain `transformers` `generate` on the same chat prompts, in the LLM
environment. Reads {"model", "conversations", "max_tokens", "batch"} as JSON on stdin; prints {"seconds",
"generated_tokens", "answers"} as JSON. Greedy, left-padded batches of `batch` prompts (one padded batch is how a
plain transformers user would batch them)."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    job = json.load(sys.stdin)
    tokenizer = AutoTokenizer.from_pretrained(job["model"], padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.bfloat16).eval()
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in job["conversations"]]
    answers, tokens = [], 0
    start = time.perf_counter()
    for i in range(0, len(texts), job["batch"]):
        inputs = tokenizer(texts[i : i + job["batch"]], return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=job["max_tokens"], do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        for row in new:
            kept = row[row != tokenizer.pad_token_id]
            tokens += int(kept.numel())
            answers.append(tokenizer.decode(kept, skip_special_tokens=True))
    json.dump({"seconds": time.perf_counter() - start, "generated_tokens": tokens, "answers": answers}, sys.stdout)


if __name__ == "__main__":
    main()
