"""Garbled timestamp attributes: reported, never a crash, never 'valid'.

Each case puts one defective unsigned attribute on an otherwise good
signature (demo PKI, CRLs supplied) and is named after its defect.
"""

from __future__ import annotations

import base64

import pytest

from govsign.cms import cades
from govsign.pki.demo import DemoPKI
from govsign.result import Indication, SubIndication, Verdict
from govsign.smime.extend import signed_layer
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.conftest import make_message

_INTEGER = b"\x02\x01\x05"


def _with_unsigned(message: bytes, oid: str, value: bytes) -> bytes:
    entity, der, _ = signed_layer(message)
    info = cades._load(der)
    si = info["content"]["signer_infos"][0]
    new_si = cades._rebuild_signer_info(si, [cades._new_attribute(oid, value)])
    new = cades._rebuild(info, signer_infos=[new_si])
    encoded = base64.encodebytes(new).replace(b"\n", b"\r\n").strip()
    return message.replace(bytes(entity.body()).strip(), encoded)


def _cases(der: bytes) -> dict[str, tuple[str, bytes]]:
    return {
        "signature_timestamp_is_an_integer": (
            cades.SIGNATURE_TIME_STAMP,
            _INTEGER,
        ),
        "signature_timestamp_is_not_a_tstinfo": (
            cades.SIGNATURE_TIME_STAMP,
            der,
        ),
        "archive_timestamp_is_an_integer": (
            cades.ARCHIVE_TIME_STAMP_V3,
            _INTEGER,
        ),
        "archive_timestamp_without_hash_index": (
            cades.ARCHIVE_TIME_STAMP_V3,
            der,
        ),
    }


@pytest.mark.parametrize(
    "defect",
    [
        "signature_timestamp_is_an_integer",
        "signature_timestamp_is_not_a_tstinfo",
        "archive_timestamp_is_an_integer",
        "archive_timestamp_without_hash_index",
    ],
)
def test_garbled_timestamp_is_indeterminate(
    defect: str, demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)
    _, der, _ = signed_layer(signed)
    oid, value = _cases(der)[defect]
    result = demo_verifier.verify(_with_unsigned(signed, oid, value))
    assert result.verdict is Verdict.INDETERMINATE
    (signer,) = result.signers
    assert (signer.indication, signer.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.SIG_CONSTRAINTS_FAILURE,
    )
    assert signer.timestamps and not signer.timestamps[0].passed
    assert any("timestamp does not hold" in p for p in result.problems)


def test_unknown_unsigned_attribute_is_ignored(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)
    result = demo_verifier.verify(
        _with_unsigned(signed, "1.2.3.4", b"\x05\x00")
    )
    assert result.verdict is Verdict.VALID
    assert result.signers[0].level == "B"
