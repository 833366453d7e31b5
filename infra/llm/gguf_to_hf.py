"""Write a GGUF chat model as a plain Hugging Face folder (bf16 safetensors, tokenizer, chat template), offline.

Run with the LLM environment's Python (it has transformers, gguf and accelerate): vLLM loads the folder like any
Llama checkpoint, without its experimental GGUF path. transformers dequantises the GGUF when it loads it, but will
not save a model it loaded from GGUF, so the weights are copied into a model built from the same config.

    .venv-llm/bin/python infra/llm/gguf_to_hf.py SmolLM2-135M-Instruct.Q4_1.gguf \
        ~/.cache/flexcoder/models/SmolLM2-135M-Instruct
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def convert(gguf: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.to(torch.bfloat16)
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out)  # the folder appears only when complete
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params:,} parameters in bf16, {time.perf_counter() - start:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gguf", type=Path, help="the .gguf file")
    p.add_argument("out", type=Path, help="the folder to write (must not exist)")
    args = p.parse_args()
    if not args.gguf.is_file():
        raise SystemExit(f"no such GGUF file: {args.gguf}")
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; remove it to convert again")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    convert(args.gguf, args.out)


if __name__ == "__main__":
    main()
