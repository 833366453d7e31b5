"""The baseline for the LLM benchmark: plain `transformers` `generate` on the same chat prompts, in the LLM
environment (on a GPU: the project's). Reads {"model", "conversations", "max_tokens", "batch", "device"} as JSON
on stdin ("device" optional, default "cpu"); prints {"load_seconds", "seconds", "generated_tokens", "answers"} as
JSON. Greedy, left-padded batches of `batch` prompts (one padded batch is how a plain transformers user would
batch them)."""

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
    device = torch.device(job.get("device", "cpu"))
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(job["model"], padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.bfloat16).to(device).eval()
    load_seconds = time.perf_counter() - start
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in job["conversations"]]
    with torch.inference_mode():  # untimed, as the vLLM actor's warm-up request: first kernel launches, allocations
        model.generate(**tokenizer(texts[:1], return_tensors="pt").to(device), max_new_tokens=2, do_sample=False)
    answers, tokens = [], 0
    start = time.perf_counter()
    for i in range(0, len(texts), job["batch"]):
        inputs = tokenizer(texts[i : i + job["batch"]], return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=job["max_tokens"], do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        for row in new:
            kept = row[row != tokenizer.pad_token_id]
            tokens += int(kept.numel())
            answers.append(tokenizer.decode(kept, skip_special_tokens=True))
    seconds = time.perf_counter() - start
    json.dump(
        {"load_seconds": load_seconds, "seconds": seconds, "generated_tokens": tokens, "answers": answers}, sys.stdout
    )


if __name__ == "__main__":
    main()
