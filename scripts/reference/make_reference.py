"""Reference logits and greedy generations from Hugging Face transformers, for csattn's tests.

Run on the GPU machine (python3, torch, transformers):
    python3 scripts/reference/make_reference.py fixtures/reference

Each case folder holds case.json: {"model": path relative to the repo root, and either "ids" (a
token list, used as given) or "text" (encoded with the model's tokenizer, BOS as it adds it)}.
Writes into the case folder:
  logits.npy      float32 [tokens, vocab]: logits of every position, float32 math on the f16 weights
  expected.json   {"ids": input ids, "generated": 32 greedy tokens from model.generate,
                   "margins": top-1 minus top-2 logit at each generated step, "transformers": version}
"""
import json
import pathlib
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
NEW_TOKENS = 32


def run_case(case: pathlib.Path, repo: pathlib.Path, device: str) -> None:
    spec = json.loads((case / "case.json").read_text())
    model_dir = repo / spec["model"]
    # float32 math on the stored f16 weights: the same numbers csattn's kernels see.
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").to(device).eval()
    if "ids" in spec:
        ids = spec["ids"]
    else:
        ids = AutoTokenizer.from_pretrained(model_dir)(spec["text"])["input_ids"]
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        logits = model(x).logits[0].float().cpu().numpy()
        gc = GenerationConfig(max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None, pad_token_id=0)
        out = model.generate(x, generation_config=gc, output_scores=True, return_dict_in_generate=True)
    generated = out.sequences[0, len(ids):].tolist()
    margins = []
    for s in out.scores:
        top = torch.topk(s[0].float(), 2).values
        margins.append(float(top[0] - top[1]))
    np.save(case / "logits.npy", logits.astype(np.float32))
    (case / "expected.json").write_text(json.dumps({
        "ids": ids, "generated": generated, "margins": margins,
        "transformers": transformers.__version__, "torch": torch.__version__,
    }) + "\n")
    print(f"{case.name}: {len(ids)} tokens, logit range {logits.min():.2f}..{logits.max():.2f}, generated {generated[:8]}...")


def main() -> None:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/reference").resolve()
    repo = pathlib.Path(__file__).resolve().parents[2]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for case in sorted(p for p in root.iterdir() if (p / "case.json").exists()):
        run_case(case, repo, device)


if __name__ == "__main__":
    main()
