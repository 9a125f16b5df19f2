"""The built-in delivery providers by name: a module of its own so reading a config can check
a provider's name without importing the delivery machinery."""

from __future__ import annotations

__all__ = ["BUILTIN"]

BUILTIN: dict[str, str] = {
    "file": "digest.delivery.local:FileProvider",
    "console": "digest.delivery.local:ConsoleProvider",
    "smtp": "digest.delivery.smtp:SMTPProvider",
    "postmark": "digest.delivery.postmark:PostmarkProvider",
    "sendgrid": "digest.delivery.sendgrid:SendGridProvider",
    "mailgun": "digest.delivery.mailgun:MailgunProvider",
    "resend": "digest.delivery.resend:ResendProvider",
    "brevo": "digest.delivery.brevo:BrevoProvider",
    "mailjet": "digest.delivery.mailjet:MailjetProvider",
    "ses": "digest.delivery.ses:SESProvider",
}
