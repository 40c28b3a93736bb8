"""Token counts with a Hugging Face tokenizer (a `tokenizer.json`, local or on any Beam filesystem; never fetched
from a hub): `token_count`, the ids `Tokenizer.encode(text)` gives for the text as the earlier stages left it
(with what the tokenizer's own template adds, e.g. a BOS: what `tokenize` writes for the document before its
end-of-document id). Totals per language and source, and over kept documents, are counted when parts are
written (stats.json `tokens`), so a refilter counts its kept documents from the stored column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pyarrow as pa

from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.models import is_remote
from beam_curation.pipeline.stages.base import Stage, acquire, in_batches
from beam_curation.settings import ConfigError, decided_later, setting

COLUMN = "token_count"


@dataclass(frozen=True)
class TokensConfig:
    enabled: bool = False
    tokenizer: Optional[str] = setting(None, path="model")  # a tokenizer.json
    batch_size: int = decided_later(256)  # documents per encode_batch call


def load_tokenizer(path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def count_tokens(tokenizer: Any, texts: list[str]) -> list[int]:
    """Tokens of each text as `Tokenizer.encode` gives them (what a trainer's document holds before its
    end-of-document id)."""
    return [len(encoding.ids) for encoding in tokenizer.encode_batch(texts)]


class CountTokens(Stage):
    STAGE = SECTION = "tokens"
    Settings = TokensConfig
    OPTIONAL = True

    @classmethod
    def columns(cls, section: TokensConfig) -> list[pa.Field]:
        return [pa.field(COLUMN, pa.int64())]

    @classmethod
    def validate(cls, section: TokensConfig) -> None:
        if section.enabled and not section.tokenizer:
            raise ConfigError("tokens.tokenizer: give the tokenizer.json to count tokens with")
        if section.batch_size < 1:
            raise ConfigError("tokens.batch_size: must be >= 1")

    @classmethod
    def check(cls, section: TokensConfig, config: Any) -> None:
        """The tokenizer loads (a file that is not a tokenizer.json fails here, not in every worker)."""
        if is_remote(section.tokenizer):
            return
        try:
            load_tokenizer(section.tokenizer.removeprefix("file://"))
        except Exception as exc:  # noqa: BLE001 - the library's own message says what is wrong
            raise ConfigError(f"tokens.tokenizer: {section.tokenizer} is not a tokenizer.json the tokenizers "
                              f"library reads ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None

    def setup(self) -> None:
        self._tokenizer = acquire(self.shared, load_tokenizer, self.section.tokenizer)

    def apply_batch(self, docs: list[Doc]) -> None:
        for chunk in in_batches(docs, self.section.batch_size):
            for doc, n in zip(chunk, count_tokens(self._tokenizer, [d.text or "" for d in chunk])):
                doc.signals[COLUMN] = n


STAGE = CountTokens
