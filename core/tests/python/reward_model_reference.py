"""Reference reward-model scores with transformers for core/tests/reward_model_parity.rs
(and the tiny models of host/tests/hybrid_e2e.rs).

Reads one JSON request on stdin, writes one JSON answer on stdout.

request:
  {"make": [{"dir": str, "kind": "rm" | "lm", "model_type": str (default "qwen2"),
             "config": {config kwargs}, "seed": int, "std": float}],
   "score": [{"dir": str, "system": str, "pairs": [[prompt, response]]}]}
answer:
  {"scores": [{"texts": [str], "ids": [[int]], "single": [float], "batched": [float] | null}]}

"make" writes a character-level byte-level tokenizer (the 256 byte symbols,
no merges, ChatML special tokens and a ChatML chat template) and a random
*ForSequenceClassification with one label ("rm") or *ForCausalLM ("lm") of
the model_type's family (Qwen2, Llama, Qwen3, Mistral) with save_pretrained; weights N(0, std), norm weights 1 + N(0, std).

"score" renders each pair as AceMath-RM's model card does
(apply_chat_template(tokenize=False) over [system?, user, assistant]),
tokenises without special tokens and runs the model in float32: "single"
scores each pair alone (batch of one), "batched" scores all pairs in one
right-padded batch (only when config.json has a pad_token_id, as transformers
refuses larger batches otherwise).
"""
import json
import sys

import torch
from tokenizers import Tokenizer, decoders, models
from tokenizers.pre_tokenizers import ByteLevel
from decoder_reference import randomize  # this directory
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                          PreTrainedTokenizerFast)

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tokenizer():
    alphabet = sorted(ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    return fast


def make(job):
    torch.manual_seed(job["seed"])
    config = AutoConfig.for_model(job.get("model_type", "qwen2"), **job["config"])
    if job["kind"] == "rm":
        config.num_labels = 1
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        model = AutoModelForCausalLM.from_config(config)
    randomize(model, job.get("std", 0.15))
    model.save_pretrained(job["dir"])
    tokenizer().save_pretrained(job["dir"])


def score(job):
    tok = AutoTokenizer.from_pretrained(job["dir"])
    model = AutoModelForSequenceClassification.from_pretrained(job["dir"], dtype=torch.float32)
    model.eval()
    texts, ids, single = [], [], []
    for prompt, response in job["pairs"]:
        chat = [{"role": "system", "content": job["system"]}] if job.get("system") else []
        chat += [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        text = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
        row = tok.encode(text, add_special_tokens=False)
        texts.append(text)
        ids.append(row)
        with torch.no_grad():
            single.append(model(input_ids=torch.tensor([row])).logits[0, 0].item())
    batched = None
    if model.config.pad_token_id is not None:
        width = max(len(r) for r in ids)
        pad = model.config.pad_token_id
        batch = torch.tensor([r + [pad] * (width - len(r)) for r in ids])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids])
        with torch.no_grad():
            batched = model(input_ids=batch, attention_mask=mask).logits[:, 0].tolist()
    return {"texts": texts, "ids": ids, "single": single, "batched": batched}


def main():
    torch.set_num_threads(1)
    req = json.load(sys.stdin)
    for job in req.get("make", []):
        make(job)
    json.dump({"scores": [score(job) for job in req.get("score", [])]}, sys.stdout)


if __name__ == "__main__":
    main()
