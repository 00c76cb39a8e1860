"""A byte-level tokenizer written against the pre-4.34 tokenizer API, as Baichuan2's remote tokenizer is.

It builds its vocabulary *after* `PreTrainedTokenizer.__init__` returns. Until transformers 4.33 the base
class did not read the vocabulary while initialising, so this works there; from 4.34 on the base `__init__`
registers the special tokens through `get_vocab()`, which needs the vocabulary first, and loading fails with
`... has no attribute 'encoder'` (Baichuan2: `no attribute 'sp_model'`). So this folder loads only in the
`legacy` runtime: the fixture that proves the harness routes such a model there. Written for this project.
"""

from transformers import PreTrainedTokenizer

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


class TinyLegacyTokenizer(PreTrainedTokenizer):
    vocab_files_names = {}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", **kwargs):
        super().__init__(
            bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, pad_token=pad_token, **kwargs
        )
        # the pre-4.34 order: the vocabulary after the base class
        self.encoder = {t: i for i, t in enumerate(SPECIALS)}
        self.encoder.update({f"<0x{b:02X}>": len(SPECIALS) + b for b in range(256)})
        self.decoder = {i: t for t, i in self.encoder.items()}

    @property
    def vocab_size(self):
        return len(self.encoder)

    def get_vocab(self):
        return dict(self.encoder)

    def _tokenize(self, text):
        return [f"<0x{b:02X}>" for b in text.encode("utf-8")]

    def _convert_token_to_id(self, token):
        return self.encoder.get(token, self.encoder["<unk>"])

    def _convert_id_to_token(self, index):
        return self.decoder.get(index, "<unk>")

    def convert_tokens_to_string(self, tokens):
        data = bytearray()
        for t in tokens:
            if t.startswith("<0x") and t.endswith(">"):
                data.append(int(t[3:-1], 16))
            else:
                data.extend(t.encode("utf-8"))
        return data.decode("utf-8", errors="replace")

    def save_vocabulary(self, save_directory, filename_prefix=None):
        return ()  # the vocabulary is the 256 bytes: nothing to write
