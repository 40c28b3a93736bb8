"""Per-document logic of tokenized shards: the end-of-document token, a document's ids, its seeded place.

Plain Python on a `tokenizers.Tokenizer` and strings, so every rule is testable without Beam. The job that
uses them is `beam_curation.pipeline.graph.tokenize`.
"""

from __future__ import annotations

import hashlib
from typing import Optional

# Names trainers use for the end-of-document token, most common first: GPT-2 / GPT-NeoX / OLMo, Llama 3,
# Llama 2 / Mistral / T5 (SentencePiece), Gemma. The first one the tokenizer holds as a token is taken.
EOD_NAMES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "[EOS]")

# The hash keeps 63 bits: a non-negative int64, which every Beam coder encodes the same way.
_KEY_MASK = (1 << 63) - 1


def find_eod_token(tokenizer) -> Optional[str]:
    """The tokenizer's end-of-document token: a special token named as in EOD_NAMES (what tokenizer.json's
    `added_tokens` marks `special`), else such a name in the vocabulary; None when it has none."""
    special = {token.content for token in tokenizer.get_added_tokens_decoder().values() if token.special}
    for name in EOD_NAMES:
        if name in special:
            return name
    for name in EOD_NAMES:
        if tokenizer.token_to_id(name) is not None:
            return name
    return None


def id_cardinality(tokenizer) -> int:
    """How many distinct ids the tokenizer can emit (the largest id + 1, added tokens included): what decides
    the width of the stored ids. Equal to the vocabulary size for every usual tokenizer."""
    return max(tokenizer.get_vocab(with_added_tokens=True).values(), default=-1) + 1


def with_eod(ids: list[int], eod_id: int) -> list[int]:
    """A document's ids followed by the end-of-document id, as Megatron-LM's preprocess_data.py (append_eod)
    and `dolma tokens` store it; an empty encoding stays empty (both skip such a document)."""
    return [*ids, eod_id] if ids else []


def shuffle_key(seed: int, doc_id: str, copy: int) -> int:
    """A document copy's place in the shuffled order: a hash of (seed, id, copy number), the same in every
    process and on every runner (never a process-local random generator). Copies of one document (a mixture
    draws some more than once) land in unrelated places."""
    digest = hashlib.blake2b(f"{seed}\x00{copy}\x00{doc_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _KEY_MASK
