"""Ed25519 signing of a document's canonical statement, and the deployment's key ring.

The current key signs: derived from the secret key (``derive_key("documents.signing")``),
or read from the PEM file ``[plugins.documents] key_file``. Keys the deployment used
before stay listed under ``retired_keys`` (each a PEM file, private or public key), so a
document signed with one still verifies after a rotation: a document records the id of
the key that signed it. Private keys are never stored in the database, so a copy of the
database cannot issue documents."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.toolkit import current_kernel, derive_key

PLUGIN = "documents"
ALGORITHM = "Ed25519"


class KeyFileError(RuntimeError):
    """A configured key file is missing or not an Ed25519 key."""


@dataclass(frozen=True)
class Signer:
    """One key of the ring: the current one (with its private half, it signs) or a
    retired one (public half only is needed: it verifies what it signed)."""

    public: Ed25519PublicKey
    key_id: str
    private: Ed25519PrivateKey | None = None
    valid_from: str | None = None
    retired_at: str | None = None
    retired: bool = False

    @property
    def current(self) -> bool:
        return not self.retired

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def public_raw(self) -> str:
        """The raw 32-byte public key, base64 (what most Ed25519 libraries take)."""
        return base64.b64encode(self.public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode("ascii")

    def sign(self, statement: dict[str, Any]) -> str:
        if self.private is None:
            raise KeyFileError("documents: a retired key does not sign")
        return base64.b64encode(self.private.sign(canonical(statement))).decode("ascii")

    def verify(self, statement: dict[str, Any], signature: str) -> bool:
        """Whether ``signature`` (base64) is this key's over ``statement``."""
        try:
            raw = base64.b64decode(signature, validate=True)
            self.public.verify(raw, canonical(statement))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def canonical(statement: dict[str, Any]) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, UTF-8 — so the same
    statement always gives the same bytes, whoever serialises it."""
    return json.dumps(statement, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def key_id_of(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _load(settings: dict[str, Any], kernel: Any) -> Ed25519PrivateKey:
    """The current private key: from ``key_file``, or derived from the secret key."""
    path = settings.get("key_file") or ""
    if not path:
        return Ed25519PrivateKey.from_private_bytes(
            derive_key("documents.signing", kernel=kernel, length=32))
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(
            f"documents: cannot read the signing key [plugins.documents] key_file={path!r}: "
            f"{exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"documents: {path!r} is not an Ed25519 private key")
    return key


def _load_public(path: str) -> Ed25519PublicKey:
    """A retired key's public half, from a PEM file holding the private or the public key
    (a deployment that only kept ``GET /api/v1/documents/key``'s PEM can list that)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"documents: cannot read the retired key {path!r}: {exc}") from exc
    key: Any
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"documents: {path!r} is not a PEM key: {exc}") from exc
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"documents: {path!r} is not an Ed25519 key")
    return key


def _ring(settings: dict[str, Any], kernel: Any) -> list[Signer]:
    private = _load(settings, kernel)
    public = private.public_key()
    ring = [Signer(public, key_id_of(public), private,
                   valid_from=settings.get("key_valid_from") or None)]
    for entry in settings.get("retired_keys") or ():
        old = _load_public(entry["file"])
        kid = key_id_of(old)
        if any(k.key_id == kid for k in ring):
            continue  # the current key listed as retired too: it stays current
        ring.append(Signer(old, kid, valid_from=entry.get("valid_from") or None,
                           retired_at=entry.get("retired_at") or None, retired=True))
    return ring


def keys(kernel: Any = None) -> list[Signer]:
    """The key ring, current key first, built once per app (kept in the kernel's state)."""
    kernel = kernel if kernel is not None else current_kernel()
    state = kernel.state(PLUGIN)
    found = state.get("keys")
    if found is None:
        found = _ring(kernel.plugins.settings(PLUGIN), kernel)
        state["keys"] = found
    return found


def signer(kernel: Any = None) -> Signer:
    """The current key: the one new documents are signed with."""
    return keys(kernel)[0]


def key_by_id(key_id: str, kernel: Any = None) -> Signer | None:
    return next((k for k in keys(kernel) if k.key_id == key_id), None)


def key_that_signed(statement: dict[str, Any], signature: str,
                    kernel: Any = None) -> Signer | None:
    """The key of the ring whose signature ``signature`` is over ``statement``, if any."""
    return next((k for k in keys(kernel) if k.verify(statement, signature)), None)
