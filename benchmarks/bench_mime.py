"""Per-recipient MIME: the stdlib's build_mime against the template path in delivery._mime.

Builds a synthetic issue of about --size KB of HTML (inline styles, typographic quotes, a few
merge placeholders per part, like premailer's output) and times, for --count recipients:

* stdlib: ``build_mime(content, recipient).as_bytes()`` — a fresh EmailMessage each time;
* template: ``MimeTemplate.render(recipient)`` — skeleton once, bytes per recipient;
* template + DKIM: the same, signed with a fresh 2048-bit key (if dkimpy and openssl exist);
* file backend: ``FileProvider.send_batch`` writing one .eml per recipient to a temp folder;
* JSON payloads: the request bodies of the HTTP providers that send every recipient a whole
  message (Postmark, Resend, Mailjet, Brevo), cut into calls and encoded, with the bodies
  filled per recipient as strings and encoded whole (``per recipient``) against the shared
  body encoded once and only the values per recipient (``encoded once``).

With ``--issue`` the issue file is rendered by digest itself (MJML and premailer output: a
few very long HTML lines, the placeholders in their middle) instead of the synthetic one.

Run: ``python benchmarks/bench_mime.py [--count N] [--size KB | --issue FILE [--config TOML]]``
"""

from __future__ import annotations

import argparse
import email.policy
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from digest.config import Settings
from digest.delivery._http import Bodies, HTTPProvider, json_bytes
from digest.delivery._mime import MimeTemplate
from digest.delivery.base import load_provider_class
from digest.delivery.local import FileProvider
from digest.message import Address, Batch, Content, Recipient, build_mime

ARTICLE = """<tr>
<td style="padding:16px 24px;font-family:-apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
font-size:16px;line-height:1.5;color:#1f2328;background:#ffffff">
<h2 style="margin:0 0 8px;font-size:20px;line-height:1.3;color:#1f2328">\
<a href="https://example.org/articles/{n}?utm_source=digest&amp;utm_medium=email" \
style="color:#b3261e;text-decoration:none">Article {n}: the “state” of things — revisited</a></h2>
<p style="margin:0 0 12px">A short summary of article {n}, written by an editor who likes \
typographic quotes, em dashes — and the occasional café or naïve résumé. It runs to a few \
lines so the part looks like a real issue rather than a test string.</p>
<p style="margin:0;font-size:14px;color:#57606a">5 min read · example.org</p>
</td>
</tr>
"""

HEAD = """<!doctype html>
<html lang="en" dir="ltr"><head><meta charset="utf-8">
<meta name="color-scheme" content="light dark"><title>Weekly digest</title></head>
<body style="margin:0;padding:0;background:#f3f4f6">
<div style="display:none;max-height:0;overflow:hidden">This week: twelve things worth \
reading, hand-picked.</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td style="padding:24px;font-family:Arial,sans-serif">Hello @@digest.name|reader@@,</td></tr>
"""

FOOT = """<tr><td style="padding:24px;font-size:12px;color:#57606a">
You get this because you subscribed as @@digest.email@@.
<a href="@@digest.unsubscribe_url@@" style="color:#57606a">Unsubscribe</a></td></tr>
</table></body></html>
"""


def make_content(size_kb: int) -> Content:
    parts = [HEAD]
    n = 0
    while sum(len(p) for p in parts) < size_kb * 1000 - len(FOOT):
        n += 1
        parts.append(ARTICLE.format(n=n))
    parts.append(FOOT)
    text = "Hello @@digest.name|reader@@,\n\n" + "".join(
        f"[{i}] Article {i}: the “state” of things — revisited\n"
        f"A short summary of article {i}, by an editor who likes em dashes.\n"
        f"https://example.org/articles/{i}\n\n"
        for i in range(1, n + 1)
    ) + "Unsubscribe: @@digest.unsubscribe_url@@\n"
    return Content(
        issue_id="2026-11-24",
        subject="Weekly digest for @@digest.name|you@@: twelve picks",
        html="".join(parts),
        text=text,
        sender=Address("news@example.org", "Example Weekly"),
        headers={
            "List-Unsubscribe": "<@@digest.unsubscribe_url@@>, <mailto:unsub@example.org>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def recipients(count: int, non_ascii: bool) -> list[Recipient]:
    name = "Zoë Ångström" if non_ascii else "Alex Reader"
    return [
        Recipient(
            email=f"reader{i}@example.net",
            name=f"{name} {i}",
            fields={"unsubscribe_url": f"https://example.org/u/{i:08d}-abcdefabcdef0123456789"},
        )
        for i in range(count)
    ]


def rate(fn: Callable[[Recipient], bytes], people: list[Recipient]) -> tuple[float, int]:
    start = time.perf_counter()
    size = 0
    for r in people:
        size = len(fn(r))
    return len(people) / (time.perf_counter() - start), size


def dkim_signer() -> Callable[[bytes], bytes] | None:
    try:
        import dkim
    except ImportError:
        return None
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "k.pem"
        subprocess.run(
            [openssl, "genrsa", "-traditional", "-out", str(key), "2048"],
            check=True, capture_output=True,
        )
        pem = key.read_bytes()
    heads = [b"from", b"to", b"subject", b"date", b"message-id",
             b"list-unsubscribe", b"list-unsubscribe-post"]

    def sign(data: bytes) -> bytes:
        sig: bytes = dkim.sign(data, b"s1", b"example.org", pem, include_headers=heads,
                               canonicalize=(b"relaxed", b"relaxed"))
        return sig + data

    return sign


JSON_PROVIDERS = ("postmark", "resend", "mailjet", "brevo")
FAKE_KEYS = {"POSTMARK_SERVER_TOKEN": "x", "RESEND_API_KEY": "x", "BREVO_API_KEY": "x",
             "MJ_APIKEY_PUBLIC": "x", "MJ_APIKEY_PRIVATE": "x"}


def json_payloads(content: Content, people: list[Recipient]) -> None:
    """The JSON bodies of HTTP providers that send every recipient a whole message."""
    bodies = Bodies.of(content)

    def filled_then_encoded(r: Recipient) -> bytes:
        return json_bytes(content.html_for(r)) + json_bytes(content.text_for(r))

    def encoded_once(r: Recipient) -> bytes:
        values = r.values()
        return bodies.html.fill(values).data + bodies.text.fill(values).data

    for label, fn in (("filled, then encoded", filled_then_encoded),
                      ("encoded once, filled", encoded_once)):
        r_rate, size = rate(fn, people)
        print(f"{'JSON bodies':16} {label:21} {r_rate:8.0f} msg/s ({size} bytes)")
    for name in JSON_PROVIDERS:
        settings = Settings.model_validate({"providers": {name: {}}, "environ": FAKE_KEYS})
        provider = load_provider_class(name)(settings)
        assert isinstance(provider, HTTPProvider)
        batch = Batch(content, people, "bench")
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            size = sum(len(json_bytes(provider.build_request(c).json))
                       for c in provider.chunks(batch))
            best = min(best, time.perf_counter() - start)
        print(f"{name:16} requests (cut, built, encoded): {len(people) / best:8.0f} msg/s "
              f"({size / 1e6:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000, help="recipients per run")
    ap.add_argument("--size", type=int, default=38, help="HTML size in KB")
    ap.add_argument("--issue", type=Path, help="render this issue file instead")
    ap.add_argument("--config", type=Path, help="settings for --issue")
    args = ap.parse_args()
    if args.issue:
        from digest import load_issue, load_settings, render_issue

        content = render_issue(load_issue(args.issue), load_settings(args.config)).content
        longest = max(len(line) for line in content.html.splitlines())
        print(f"rendered {args.issue}: longest HTML line {longest / 1000:.1f} KB")
    else:
        content = make_content(args.size)
    crlf = email.policy.default.clone(max_line_length=78, linesep="\r\n")
    print(f"issue: html {len(content.html.encode()) / 1000:.1f} KB, "
          f"text {len(content.text.encode()) / 1000:.1f} KB, {args.count} recipients")

    def stdlib(r: Recipient) -> bytes:
        return build_mime(content, r).as_bytes(policy=crlf)

    start = time.perf_counter()
    template = MimeTemplate(content)
    setup_ms = (time.perf_counter() - start) * 1000

    def fast(r: Recipient) -> bytes:
        return template.render(r).data

    print(f"template setup (once per issue): {setup_ms:.1f} ms")
    for label, non_ascii in (("ASCII names", False), ("non-ASCII names", True)):
        people = recipients(args.count, non_ascii)
        slow_n = max(args.count // 10, 50)
        s_rate, s_size = rate(stdlib, people[:slow_n])
        f_rate, f_size = rate(fast, people)
        print(f"{label:16} stdlib build_mime: {s_rate:8.0f} msg/s ({s_size} bytes)")
        print(f"{label:16} template render:   {f_rate:8.0f} msg/s ({f_size} bytes)"
              f"  x{f_rate / s_rate:.0f}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate({"providers": {"file": {"dir": tmp}}, "environ": {}})
        provider = FileProvider(settings)
        people = recipients(args.count, False)
        start = time.perf_counter()
        for i in range(0, len(people), provider.max_batch):
            provider.send_batch(Batch(content, people[i : i + provider.max_batch], str(i)))
        file_rate = len(people) / (time.perf_counter() - start)
    print(f"{'ASCII names':16} file backend:      {file_rate:8.0f} msg/s (.eml written)")
    json_payloads(content, recipients(min(args.count, 500), True))
    signer = dkim_signer()
    if signer is None:
        print("DKIM: skipped (needs dkimpy and the openssl binary)")
        return
    people = recipients(max(args.count // 10, 50), False)
    d_rate, _ = rate(lambda r: signer(template.render(r).data), people)
    print(f"{'ASCII names':16} template + DKIM:   {d_rate:8.0f} msg/s (rsa-sha256 2048)")


if __name__ == "__main__":
    main()
