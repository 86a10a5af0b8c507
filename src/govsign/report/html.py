"""Verification results as an HTML page that prints on A4 for the file.

One self-contained UTF-8 document (no scripts, no external resources),
with print CSS for A4 portrait: the clerk prints it and files it with the
paper copy.  The same facts as the text report, plus the SHA-256 of every
certificate, CRL, OCSP response and timestamp the verdict rested on, so
the printout can be matched to an evidence bundle.
"""

from __future__ import annotations

import hashlib
from html import escape

from govsign.report.longterm import format_time, long_term_rows
from govsign.report.text import _LABELS, _certificate, _integrity
from govsign.result import Coverage, SignerResult, Verdict, VerificationResult

__all__ = ["render_html"]

_CSS = """
@page { size: A4 portrait; margin: 18mm 16mm 20mm 16mm; }
* { box-sizing: border-box; }
body { font-family: "Times New Roman", "Noto Serif", "DejaVu Serif", serif;
       font-size: 11.5pt; line-height: 1.35; color: #000; margin: 0;
       max-width: 178mm; }
h1 { font-size: 15pt; margin: 0 0 4mm 0; text-align: center; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm 0;
     border-bottom: 0.4pt solid #000; }
table { width: 100%; border-collapse: collapse; margin: 0 0 3mm 0;
        page-break-inside: avoid; }
th, td { border: 0.4pt solid #444; padding: 1.2mm 2mm; text-align: left;
         vertical-align: top; }
th { width: 34%; font-weight: bold; background: #f2f2f2; }
td { overflow-wrap: anywhere; }
.verdict { font-size: 13pt; font-weight: bold; text-align: center;
           border: 1pt solid #000; padding: 2mm; margin: 0 0 4mm 0; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; }
ul { margin: 0; padding-left: 5mm; }
li { font-size: 10pt; }
footer { margin-top: 6mm; font-size: 9pt; color: #333; }
@media print { .verdict, th { -webkit-print-color-adjust: exact;
               print-color-adjust: exact; } }
"""

_EXTRA = {
    "en": {
        "evidence": "What the verdict rests on (SHA-256)",
        "cert": "Certificate",
        "crl": "CRL",
        "ocsp": "OCSP response",
        "token": "Timestamp token",
        "footer": "Produced by govsign. Checked against the trust anchors "
        "given to the verifier only.",
    },
    "vi": {
        "evidence": "Căn cứ của kết quả (SHA-256)",
        "cert": "Chứng thư số",
        "crl": "CRL",
        "ocsp": "Phản hồi OCSP",
        "token": "Dấu thời gian",
        "footer": "Tạo bởi govsign. Chỉ kiểm tra theo các chứng thư gốc "
        "tin cậy đã cấu hình.",
    },
}


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows
    )
    return f"<table>{cells}</table>"


def _signer_section(
    index: int, signer: SignerResult, language: str
) -> list[str]:
    labels = _LABELS.get(language, _LABELS["en"])
    unknown = labels["unknown"]
    rows = [
        (labels["email"], ", ".join(signer.email) or labels["none"]),
        (labels["issuer"], signer.issuer or unknown),
        (labels["serial"], signer.serial or unknown),
        (labels["signing_time"], format_time(signer.signing_time, unknown)),
        (labels["integrity"], _integrity(signer, labels)),
        (labels["certificate"], _certificate(signer, labels)),
    ]
    if signer.address_matches_from is not None:
        rows.append(
            (
                labels["sender"],
                labels["yes" if signer.address_matches_from else "no"],
            )
        )
    rows += long_term_rows(signer, language)
    sub = f" / {signer.sub_indication.value}" if signer.sub_indication else ""
    rows.append((labels["indication"], signer.indication.value + sub))
    rows.append((labels["part"], signer.part or labels["whole_part"]))
    out = [
        f"<h2>{escape(labels['signer'])} {index}: "
        f"{escape(signer.name or '?')}</h2>",
        _table(rows),
    ]
    if signer.evidence is not None:
        extra = _EXTRA.get(language, _EXTRA["en"])
        items = [
            (extra["cert"], signer.evidence.certificates),
            (extra["crl"], signer.evidence.crls),
            (extra["ocsp"], signer.evidence.ocsps),
            (extra["token"], signer.evidence.timestamps),
        ]
        lines = [
            f"<li>{escape(kind)}: <span class='hash'>"
            f"{hashlib.sha256(der).hexdigest()}</span></li>"
            for kind, group in items
            for der in group
        ]
        if lines:
            out.append(f"<p><b>{escape(extra['evidence'])}</b></p>")
            out.append("<ul>" + "".join(lines) + "</ul>")
    return out


def render_html(result: VerificationResult, language: str = "vi") -> str:
    """Return ``result`` as a printable HTML document in ``language``.

    ``language`` is ``"vi"`` or ``"en"``; the document declares it, so a
    browser hyphenates and a screen reader reads it right.
    """
    lang = language if language in _LABELS else "en"
    labels = _LABELS[lang]
    head = [
        (labels["verdict"], labels[result.verdict.value]),
        (labels["from"], result.from_address or labels["unknown"]),
        (
            labels["checked_at"],
            format_time(result.validation_time, labels["unknown"]),
        ),
    ]
    if result.indication is not None:
        sub = (
            f" / {result.sub_indication.value}"
            if result.sub_indication
            else ""
        )
        head.append((labels["indication"], result.indication.value + sub))
    if result.verdict is not Verdict.UNSIGNED:
        head.append(
            (
                labels["coverage"],
                labels[
                    "whole" if result.coverage is Coverage.WHOLE else "partial"
                ],
            )
        )
    body = [
        f"<h1>{escape(labels['title'])}</h1>",
        f"<div class='verdict'>{escape(labels[result.verdict.value])}</div>",
        _table(head),
    ]
    for index, signer in enumerate(result.signers, start=1):
        body += _signer_section(index, signer, lang)
    if result.problems:
        body.append(f"<h2>{escape(labels['problems'])}</h2>")
        body.append(
            "<ul>"
            + "".join(f"<li>{escape(p)}</li>" for p in result.problems)
            + "</ul>"
        )
    if result.weakened:
        body.append(
            f"<p><b>{escape(labels['weakened'])}:</b> "
            f"{escape(', '.join(result.weakened))}</p>"
        )
    body.append(f"<footer>{escape(_EXTRA[lang]['footer'])}</footer>")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(labels['title'])}</title>"
        f"<style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
