"""How a message was encrypted, as text a clerk reads (Vietnamese or
English)."""

from __future__ import annotations

from collections.abc import Mapping

from govsign.cms.enveloped import ContentEncryption
from govsign.smime.encryption import DecryptionResult

__all__ = ["render_decryption"]

_LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "decrypted": "Decrypted",
        "protected": "integrity protected",
        "unprotected": "NOT integrity protected",
        "key": "Key",
        "for": "for",
        "recipients": "Recipients",
        "warning": "Warning",
        "cbc": "the content could have been changed on the way without "
        "this being detected; rely on it only with a valid signature inside",
        "3des": "Triple-DES is an obsolete cipher",
        "v15": "RSA PKCS#1 v1.5 key transport is a legacy scheme",
        "outer": "a signature around the encrypted part was not checked",
    },
    "vi": {
        "decrypted": "Đã giải mã",
        "protected": "được bảo vệ toàn vẹn",
        "unprotected": "KHÔNG được bảo vệ toàn vẹn",
        "key": "Khóa",
        "for": "của",
        "recipients": "Số người nhận",
        "warning": "Cảnh báo",
        "cbc": "nội dung có thể đã bị sửa trên đường truyền mà không bị "
        "phát hiện; chỉ tin cậy khi chữ ký số bên trong hợp lệ",
        "3des": "Triple-DES là thuật toán mã hóa đã lỗi thời",
        "v15": "RSA PKCS#1 v1.5 là cơ chế trao khóa cũ",
        "outer": "chữ ký bao ngoài phần mã hóa chưa được kiểm tra",
    },
}


def render_decryption(result: DecryptionResult, language: str = "en") -> str:
    """Describe ``result`` in ``language`` ("vi" or "en"), one fact a line.

    Raises :class:`KeyError` for a language govsign has no text for.
    """
    labels = _LABELS[language]
    protection = labels[
        "protected" if result.integrity_protected else "unprotected"
    ]
    lines = [
        f"{labels['decrypted']}: {result.smime_type}, "
        f"{result.content_encryption.value} ({protection})",
        f"{labels['key']}: {result.key_management} {labels['for']} "
        f"{result.decrypted_for}",
        f"{labels['recipients']}: {len(result.recipients)}",
    ]
    warnings = []
    if not result.integrity_protected:
        warnings.append(labels["cbc"])
    if result.content_encryption is ContentEncryption.DES_EDE3_CBC:
        warnings.append(labels["3des"])
    if result.key_management == "rsaes-pkcs1v15":
        warnings.append(labels["v15"])
    if result.outer_signature is not None:
        warnings.append(f"{labels['outer']} ({result.outer_signature})")
    lines += [f"{labels['warning']}: {w}" for w in warnings]
    return "\n".join(lines) + "\n"
