"""docs/exchange.md's verification snippet works against what Shequ really sends."""

from __future__ import annotations

import re
import time
from pathlib import Path

from core.exchange import services as ex

DOC = Path(__file__).resolve().parents[2] / "docs" / "exchange.md"


def _snippet() -> dict:
    text = DOC.read_text(encoding="utf-8")
    code = next(
        b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify_shequ_webhook" in b
    )
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # our own documentation
    return namespace


def test_the_documented_verification_accepts_a_real_signature_once():
    verify = _snippet()["verify_shequ_webhook"]
    body = b'{"data":{"person_id":1},"id":7,"type":"registry.person.moved"}'
    ts = str(int(time.time()))
    headers = {"X-Shequ-Timestamp": ts, "X-Shequ-Signature": ex.sign("whsec_k", ts, body)}
    assert verify("whsec_k", headers, body)
    assert not verify("whsec_k", headers, body)  # the same request again: a replay
    assert not verify("whsec_other", headers, body)
    assert not verify("whsec_k", headers, body.replace(b"1", b"2"))
    # During a rotation: two signatures, either secret verifies.
    ts2 = str(int(time.time()) + 1)
    both = ex.sign("whsec_new", ts2, body) + "," + ex.sign("whsec_k", ts2, body)
    two = {"X-Shequ-Timestamp": ts2, "X-Shequ-Signature": both}
    assert verify("whsec_k", two, body)
    old = str(int(time.time()) - 600)
    stale = {"X-Shequ-Timestamp": old, "X-Shequ-Signature": ex.sign("whsec_k", old, body)}
    assert not verify("whsec_k", stale, body)


def test_the_documented_headers_are_the_ones_sent():
    text = DOC.read_text(encoding="utf-8")
    package = Path(ex.__file__).parent  # core/exchange/services/, split along its seams
    source = "".join(p.read_text(encoding="utf-8") for p in sorted(package.glob("*.py")))
    for header in set(re.findall(r"X-Shequ-[A-Za-z-]+", text)):
        assert f'"{header}"' in source, header
