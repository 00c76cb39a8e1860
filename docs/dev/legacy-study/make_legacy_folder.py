# Rewrite a transformers-5 / tokenizers-0.2x model folder so transformers 4.33 / tokenizers 0.13 read it the same way.
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
tj = json.loads((d / "tokenizer.json").read_text())
m = tj["model"]
assert all(" " not in a and " " not in b for a, b in m["merges"]), "a merge piece holds a space"
m["merges"] = [f"{a} {b}" for a, b in m["merges"]]
m.pop("ignore_merges", None)
(d / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False))
tc = json.loads((d / "tokenizer_config.json").read_text())
tc["tokenizer_class"] = "PreTrainedTokenizerFast"
tc.setdefault("clean_up_tokenization_spaces", False)  # transformers 5 default; 4.x defaults to True
for k in ("backend", "is_local", "local_files_only"):
    tc.pop(k, None)
tmpl = d / "chat_template.jinja"
if tmpl.exists():
    tc["chat_template"] = tmpl.read_text()
(d / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, ensure_ascii=False))
cfg = json.loads((d / "config.json").read_text())
rp = cfg.get("rope_parameters") or {}
if rp.get("rope_type", "default") == "default" and "rope_theta" in rp:
    cfg["rope_theta"] = rp["rope_theta"]
cfg.setdefault("torch_dtype", cfg.get("dtype"))
(d / "config.json").write_text(json.dumps(cfg, indent=2))
print("ok", d)
