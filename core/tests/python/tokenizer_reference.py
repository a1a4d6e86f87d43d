"""Reference answers from transformers for core/tests/tokenizer_transformers.rs.

Reads one JSON request on stdin and writes one JSON answer on stdout; a
request {"cases": [request, ...]} is answered with a list of answers.
  request: {"dir": DIR, "texts": [str], "decode": [[int]],
            "chats": [{"messages": [...], "add_generation_prompt": bool,
                       "continue_final_message": bool, "template": str?, "tools": [...]?,
                       "kwargs": {...}? (template variables: enable_thinking, date_string, ...)}]}
  answer:  {"encode": [[int]], "encode_plain": [[int]],
            "decode_keep": [str], "decode_skip": [str],
            "chats": [{"text": str, "ids": [int]}],
            "eos_token_id": int?, "pad_token_id": int?, "special_tokens_map": {...},
            "generation_eos": [int] (generation_config.json's stop ids, [] without one)}
"""
import json
import sys

from pathlib import Path

from transformers import AutoTokenizer, GenerationConfig


def answer(req):
    tok = AutoTokenizer.from_pretrained(req["dir"])
    out = {
        "encode": [tok(t, add_special_tokens=True)["input_ids"] for t in req["texts"]],
        "encode_plain": [tok(t, add_special_tokens=False)["input_ids"] for t in req["texts"]],
        "decode_keep": [tok.decode(ids, skip_special_tokens=False) for ids in req["decode"]],
        "decode_skip": [tok.decode(ids, skip_special_tokens=True) for ids in req["decode"]],
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "special_tokens_map": {k: v for k, v in tok.special_tokens_map.items() if isinstance(v, str)},
        "chats": [],
    }
    for chat in req["chats"]:
        kwargs = dict(
            add_generation_prompt=chat.get("add_generation_prompt", False),
            continue_final_message=chat.get("continue_final_message", False),
            tools=chat.get("tools"),
            **(chat.get("kwargs") or {}),
        )
        if chat.get("template") is not None:
            kwargs["chat_template"] = chat["template"]
        text = tok.apply_chat_template(chat["messages"], tokenize=False, **kwargs)
        ids = tok.apply_chat_template(chat["messages"], tokenize=True, return_dict=False, **kwargs)
        out["chats"].append({"text": text, "ids": list(ids)})
    out["tokenizer_class"] = type(tok).__name__
    out["generation_eos"] = []
    if (Path(req["dir"]) / "generation_config.json").is_file():
        eos = GenerationConfig.from_pretrained(req["dir"]).eos_token_id
        out["generation_eos"] = eos if isinstance(eos, list) else [] if eos is None else [eos]
    return out


def main():
    req = json.load(sys.stdin)
    if "cases" in req:
        json.dump([answer(case) for case in req["cases"]], sys.stdout)
    else:
        json.dump(answer(req), sys.stdout)


if __name__ == "__main__":
    main()
