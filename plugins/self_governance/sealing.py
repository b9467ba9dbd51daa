"""Sealed boxes for secret ballots and rating sheets: what keeps a copy of the database
files from linking a choice to the voter on the roll.

A cast writes the roll row (who) and the choice (what) in one transaction: a database
file, its WAL, PostgreSQL's WAL or a row's ``xmin`` show the two together. So while a
vote is open the choice is stored only *sealed*: AES-256-GCM under a key derived
(HKDF-SHA256, :func:`core.toolkit.derive_key`) from the app's secret key and the vote id,
with the vote id as associated data (a box cannot be moved to another vote) and the
plaintext padded to one fixed size (a box's length says nothing about the choice). The
key is never written to the database. At the close the boxes are opened, shuffled and
written in plain in one transaction, and the boxes deleted (services.close_vote). The
threat model is in docs/plugins/self_governance.md.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.toolkit import derive_key

#: Every plaintext of a kind is padded to this many bytes before sealing: a ballot's
#: selection is at most 200 characters of option codes; a rating sheet has one short
#: entry per committee member (about 70 fit).
PLAINTEXT_SIZE = {"ballot": 320, "rating": 1536}
NONCE_SIZE = 12


class SealError(Exception):
    """A box could not be opened: tampered with, or sealed under another secret key."""


def _label(kind: str, ident: int) -> bytes:
    return f"self_governance.{kind}:{ident}".encode()


def _aead(kernel: Any, kind: str, ident: int) -> AESGCM:
    return AESGCM(derive_key(_label(kind, ident).decode(), kernel=kernel, length=32))


def seal(kernel: Any, kind: str, ident: int, content: Any) -> bytes:
    """``content`` (JSON-able) sealed for ``kind`` (``"ballot"`` or ``"rating"``) of vote
    or round ``ident``: nonce + ciphertext + tag, always the same length."""
    data = json.dumps(content, separators=(",", ":"), ensure_ascii=True).encode()
    size = PLAINTEXT_SIZE[kind]
    if len(data) > size - 2:
        raise ValueError("content too large to seal")
    padded = len(data).to_bytes(2, "big") + data + bytes(size - 2 - len(data))
    nonce = os.urandom(NONCE_SIZE)
    return nonce + _aead(kernel, kind, ident).encrypt(nonce, padded, _label(kind, ident))


def opener(kernel: Any, kind: str, ident: int) -> Any:
    """A function ``box → content`` for one vote or round (the key derived once)."""
    aead, label = _aead(kernel, kind, ident), _label(kind, ident)

    def open_box(box: bytes) -> Any:
        box = bytes(box)
        try:
            padded = aead.decrypt(box[:NONCE_SIZE], box[NONCE_SIZE:], label)
        except (InvalidTag, ValueError) as exc:
            raise SealError(f"{kind} box of {ident} cannot be opened") from exc
        size = int.from_bytes(padded[:2], "big")
        return json.loads(padded[2 : 2 + size])

    return open_box
