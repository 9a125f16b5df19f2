"""Each provider's documented webhook payloads, one per event type, aimed at one recipient.

Shapes and values follow the providers' own reference samples (Postmark's webhook and bounce
type pages, SendGrid's Event Webhook reference, Mailgun's event structure, Resend's
``email.*`` pages, Brevo's transactional webhook, Mailjet's event API, SES's notification and
event-publishing contents), with the message id, address and digest's own id of the
recipient under test put in. ``kind`` is what digest must record, ``suppression`` the reason
the address must be suppressed for (or None), ``state`` the send's state afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """The recipient an event is about."""

    email: str
    name: str
    message_id: str
    digest_id: str

    @property
    def display(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Sample:
    provider: str
    name: str
    build: Callable[[Target], Any]
    kind: str
    suppression: str | None = None
    state: str = "sent"

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.name}"


# -- Postmark ------------------------------------------------------------------------------


def pm_bounce(type_: str, code: int, **extra: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return {
            "RecordType": "Bounce",
            "MessageStream": "broadcast",
            "ID": 4323372036854775807 - code,
            "Type": type_,
            "TypeCode": code,
            "Name": type_,
            "Tag": "weekly",
            "MessageID": t.message_id,
            "Metadata": {"digest_id": t.digest_id},
            "ServerID": 23,
            "Description": "The server was unable to deliver your message (ex: unknown user).",
            "Details": "Test bounce details",
            "Email": t.email,
            "From": "weekly@example.org",
            "BouncedAt": "2026-11-24T13:28:10.5Z",
            "DumpAvailable": True,
            "Inactive": type_ in ("HardBounce", "SpamComplaint"),
            "CanActivate": True,
            "Subject": "Test Weekly #12",
            "Content": "Return-Path: <>\r\n...",
            **extra,
        }

    return build


def pm(record: str, **fields: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        base = {
            "RecordType": record,
            "MessageStream": "broadcast",
            "MessageID": t.message_id,
            "Recipient": t.email,
            "Tag": "weekly",
            "Metadata": {"digest_id": t.digest_id},
            "ServerID": 23,
        }
        return {**base, **fields}

    return build


def pm_subscription(reason: str | None, suppress: bool, **extra: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return {
            "RecordType": "SubscriptionChange",
            "MessageID": t.message_id,
            "ServerID": 123456,
            "MessageStream": "broadcast",
            "ChangedAt": "2026-11-24T13:53:34.416071Z",
            "Recipient": t.email,
            "Origin": "Recipient",
            "SuppressSending": suppress,
            "SuppressionReason": reason,
            "Tag": "weekly",
            "Metadata": {"digest_id": t.digest_id},
            **extra,
        }

    return build


POSTMARK = [
    Sample(
        "postmark",
        "Delivery",
        pm("Delivery", DeliveredAt="2026-11-24T13:28:10Z", Details="Test delivery webhook details"),
        "delivered",
    ),
    Sample(
        "postmark", "HardBounce", pm_bounce("HardBounce", 1), "hard_bounce", "bounced", "bounced"
    ),
    Sample("postmark", "Transient", pm_bounce("Transient", 2), "deferred"),
    Sample("postmark", "Unsubscribe", pm_bounce("Unsubscribe", 16), "unsubscribe", "unsubscribed"),
    Sample("postmark", "Subscribe", pm_bounce("Subscribe", 32), "unknown"),
    Sample("postmark", "AutoResponder", pm_bounce("AutoResponder", 64), "unknown"),
    Sample("postmark", "AddressChange", pm_bounce("AddressChange", 128), "unknown"),
    Sample("postmark", "DnsError", pm_bounce("DnsError", 256), "soft_bounce"),
    Sample(
        "postmark",
        "SpamNotification",
        pm_bounce("SpamNotification", 512),
        "complaint",
        "complained",
        "complained",
    ),
    Sample("postmark", "OpenRelayTest", pm_bounce("OpenRelayTest", 1024), "unknown"),
    Sample("postmark", "Unknown", pm_bounce("Unknown", 2048), "soft_bounce"),
    Sample("postmark", "SoftBounce", pm_bounce("SoftBounce", 4096), "soft_bounce"),
    Sample("postmark", "VirusNotification", pm_bounce("VirusNotification", 8192), "soft_bounce"),
    Sample(
        "postmark", "ChallengeVerification", pm_bounce("ChallengeVerification", 16384), "unknown"
    ),
    Sample(
        "postmark",
        "BadEmailAddress",
        pm_bounce("BadEmailAddress", 100000),
        "rejected",
        "bounced",
        "bounced",
    ),
    Sample(
        "postmark",
        "SpamComplaint-bounce",
        pm_bounce("SpamComplaint", 100001),
        "complaint",
        "complained",
        "complained",
    ),
    Sample(
        "postmark",
        "ManuallyDeactivated",
        pm_bounce("ManuallyDeactivated", 100002),
        "rejected",
        "bounced",
        "bounced",
    ),
    Sample("postmark", "Unconfirmed", pm_bounce("Unconfirmed", 100003), "rejected"),
    Sample("postmark", "Blocked", pm_bounce("Blocked", 100006), "rejected"),
    Sample("postmark", "SMTPApiError", pm_bounce("SMTPApiError", 100007), "rejected"),
    Sample("postmark", "InboundError", pm_bounce("InboundError", 100008), "unknown"),
    Sample("postmark", "DMARCPolicy", pm_bounce("DMARCPolicy", 100009), "rejected"),
    Sample(
        "postmark",
        "TemplateRenderingFailed",
        pm_bounce("TemplateRenderingFailed", 100010),
        "rejected",
    ),
    Sample(
        "postmark",
        "SpamComplaint",
        lambda t: {**pm_bounce("SpamComplaint", 100001)(t), "RecordType": "SpamComplaint"},
        "complaint",
        "complained",
        "complained",
    ),
    Sample(
        "postmark",
        "Open",
        pm(
            "Open",
            FirstOpen=True,
            ReceivedAt="2026-11-24T13:30:00Z",
            Platform="WebMail",
            UserAgent="Mozilla/5.0",
        ),
        "open",
    ),
    Sample(
        "postmark",
        "Click",
        pm(
            "Click",
            ClickLocation="HTML",
            ReceivedAt="2026-11-24T13:31Z",
            OriginalLink="https://example.org/a",
        ),
        "click",
    ),
    Sample(
        "postmark",
        "SubscriptionChange-HardBounce",
        pm_subscription("HardBounce", True),
        "hard_bounce",
        "bounced",
        "bounced",
    ),
    Sample(
        "postmark",
        "SubscriptionChange-SpamComplaint",
        pm_subscription("SpamComplaint", True),
        "complaint",
        "complained",
        "complained",
    ),
    Sample(
        "postmark",
        "SubscriptionChange-ManualSuppression",
        pm_subscription("ManualSuppression", True, MessageID=None, Origin="Customer"),
        "unsubscribe",
        "unsubscribed",
    ),
    Sample(
        "postmark",
        "SubscriptionChange-reactivation",
        pm_subscription(None, False, MessageID=None, Tag=None, Metadata={}),
        "unknown",
    ),
]


# -- SendGrid ------------------------------------------------------------------------------


def sg(event: str, **fields: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return [
            {
                "email": t.email,
                "timestamp": int(time.time()) - 60,
                "smtp-id": f"<{t.message_id}@ismtpd0001p1lon1.sendgrid.net>",
                "event": event,
                "category": ["weekly"],
                "sg_event_id": f"{event}-{t.digest_id}"[:60],
                "sg_message_id": f"{t.message_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5.0",
                "digest_id": t.digest_id,
                **fields,
            }
        ]

    return build


SENDGRID = [
    Sample(
        "sendgrid", "processed", sg("processed", pool={"name": "new_MY_test", "id": 210}), "queued"
    ),
    Sample(
        "sendgrid",
        "dropped-bounced",
        sg("dropped", reason="Bounced Address", status="5.0.0"),
        "rejected",
        "bounced",
        "bounced",
    ),
    Sample(
        "sendgrid",
        "dropped-invalid",
        sg("dropped", reason="Invalid"),
        "rejected",
        "bounced",
        "bounced",
    ),
    Sample(
        "sendgrid",
        "dropped-spam",
        sg("dropped", reason="Spam Reporting Address"),
        "rejected",
        "complained",
        "complained",
    ),
    Sample(
        "sendgrid",
        "dropped-unsubscribed",
        sg("dropped", reason="Unsubscribed Address"),
        "rejected",
        "unsubscribed",
    ),
    Sample(
        "sendgrid",
        "deferred",
        sg("deferred", response="400 try again later", attempt="5"),
        "deferred",
    ),
    Sample(
        "sendgrid",
        "bounce",
        sg(
            "bounce",
            type="bounce",
            status="5.0.0",
            reason="500 unknown recipient",
            bounce_classification="Invalid Address",
        ),
        "hard_bounce",
        "bounced",
        "bounced",
    ),
    Sample(
        "sendgrid",
        "bounce-blocked",
        sg(
            "bounce",
            type="blocked",
            status="5.0.0",
            reason="550 blocked by policy",
            bounce_classification="Reputation",
        ),
        "rejected",
    ),
    Sample("sendgrid", "delivered", sg("delivered", response="250 OK"), "delivered"),
    Sample(
        "sendgrid",
        "open",
        sg("open", useragent="Mozilla/4.0", ip="255.255.255.255", sg_machine_open=False),
        "open",
    ),
    Sample(
        "sendgrid",
        "click",
        sg(
            "click",
            useragent="Mozilla/4.0",
            ip="255.255.255.255",
            url="https://example.org/a",
            url_offset={"index": 0, "type": "html"},
        ),
        "click",
    ),
    Sample("sendgrid", "spamreport", sg("spamreport"), "complaint", "complained", "complained"),
    Sample("sendgrid", "unsubscribe", sg("unsubscribe"), "unsubscribe", "unsubscribed"),
    Sample(
        "sendgrid",
        "group_unsubscribe",
        sg(
            "group_unsubscribe",
            asm_group_id=10,
            useragent="Mozilla/4.0",
            url="https://sendgrid.com/unsub",
        ),
        "unsubscribe",
        "unsubscribed",
    ),
    Sample("sendgrid", "group_resubscribe", sg("group_resubscribe", asm_group_id=10), "unknown"),
]


# -- Mailgun -------------------------------------------------------------------------------


def mg(event: str, **fields: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return {
            "event-data": {
                "event": event,
                "id": f"{event}-{t.digest_id}",
                "timestamp": time.time() - 60,
                "log-level": "info",
                "recipient": t.email,
                "recipient-domain": "example.org",
                "tags": ["weekly"],
                "envelope": {"sender": "bounce@mg.example.org", "transport": "smtp"},
                "message": {
                    "headers": {
                        "to": t.display,
                        "message-id": t.message_id.strip("<>"),
                        "from": "Test Weekly <weekly@example.org>",
                        "subject": "Test Weekly #12",
                    },
                    "attachments": [],
                    "size": 111,
                },
                "user-variables": {"digest_id": t.digest_id},
                **fields,
            }
        }

    return build


MAILGUN = [
    Sample("mailgun", "accepted", mg("accepted", method="HTTP"), "queued"),
    Sample(
        "mailgun",
        "delivered",
        mg(
            "delivered",
            **{
                "delivery-status": {
                    "code": 250,
                    "message": "OK",
                    "description": "",
                    "attempt-no": 1,
                }
            },
        ),
        "delivered",
    ),
    Sample(
        "mailgun",
        "failed-permanent",
        mg(
            "failed",
            severity="permanent",
            reason="bounce",
            **{
                "delivery-status": {
                    "code": 550,
                    "message": "5.1.1 The email account that you tried to reach does not exist.",
                    "attempt-no": 1,
                }
            },
        ),
        "hard_bounce",
        "bounced",
        "bounced",
    ),
    Sample(
        "mailgun",
        "failed-temporary",
        mg(
            "failed",
            severity="temporary",
            reason="generic",
            **{"delivery-status": {"code": 452, "message": "4.2.2 over quota", "attempt-no": 1}},
        ),
        "deferred",
    ),
    Sample(
        "mailgun", "failed-old", mg("failed", severity="permanent", reason="old"), "soft_bounce"
    ),
    Sample(
        "mailgun",
        "failed-suppress-bounce",
        mg("failed", severity="permanent", reason="suppress-bounce"),
        "rejected",
        "bounced",
        "bounced",
    ),
    Sample(
        "mailgun",
        "failed-suppress-unsubscribe",
        mg("failed", severity="permanent", reason="suppress-unsubscribe"),
        "rejected",
        "unsubscribed",
    ),
    Sample(
        "mailgun",
        "failed-suppress-complaint",
        mg("failed", severity="permanent", reason="suppress-complaint"),
        "rejected",
        "complained",
        "complained",
    ),
    Sample(
        "mailgun", "rejected", mg("rejected", reject={"reason": "Sandbox subdomains"}), "rejected"
    ),
    Sample(
        "mailgun",
        "opened",
        mg("opened", ip="50.56.129.169", **{"client-info": {"client-type": "browser"}}),
        "open",
    ),
    Sample("mailgun", "clicked", mg("clicked", url="https://example.org/a"), "click"),
    Sample(
        "mailgun",
        "unsubscribed",
        mg("unsubscribed", ip="50.56.129.169"),
        "unsubscribe",
        "unsubscribed",
    ),
    Sample("mailgun", "complained", mg("complained"), "complaint", "complained", "complained"),
]


# -- Resend --------------------------------------------------------------------------------


def rs(kind: str, **data: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return {
            "type": kind,
            "created_at": "2026-11-24T13:28:10.000Z",
            "data": {
                "created_at": "2026-11-24T13:20:00.000Z",
                "email_id": t.message_id,
                "from": "Test Weekly <weekly@example.org>",
                "to": [t.display],
                "subject": "Test Weekly #12",
                "tags": {"digest_id": t.digest_id},
                **data,
            },
        }

    return build


RESEND = [
    Sample("resend", "email.sent", rs("email.sent"), "queued"),
    Sample("resend", "email.scheduled", rs("email.scheduled"), "queued"),
    Sample("resend", "email.delivered", rs("email.delivered"), "delivered"),
    Sample("resend", "email.delivery_delayed", rs("email.delivery_delayed"), "deferred"),
    Sample(
        "resend",
        "email.bounced-Permanent",
        rs(
            "email.bounced",
            bounce={
                "message": "The recipient's email provider sent a hard bounce message.",
                "subType": "General",
                "type": "Permanent",
            },
        ),
        "hard_bounce",
        "bounced",
        "bounced",
    ),
    Sample(
        "resend",
        "email.bounced-Transient",
        rs(
            "email.bounced",
            bounce={
                "message": "The recipient's inbox was full.",
                "subType": "MailboxFull",
                "type": "Transient",
            },
        ),
        "soft_bounce",
    ),
    Sample(
        "resend",
        "email.bounced-untyped",
        rs(
            "email.bounced",
            bounce={
                "message": "The recipient's email provider sent a bounce message because the "
                "recipient's inbox was full."
            },
        ),
        "soft_bounce",
    ),
    Sample(
        "resend",
        "email.complained",
        rs("email.complained"),
        "complaint",
        "complained",
        "complained",
    ),
    Sample("resend", "email.opened", rs("email.opened"), "open"),
    Sample(
        "resend",
        "email.clicked",
        rs(
            "email.clicked",
            click={
                "ipAddress": "122.115.53.11",
                "link": "https://example.org/a",
                "timestamp": "2026-11-24T13:31:00.000Z",
                "userAgent": "Mozilla/5.0",
            },
        ),
        "click",
    ),
    Sample(
        "resend",
        "email.failed",
        rs("email.failed", failed={"reason": "reached_daily_quota"}),
        "rejected",
    ),
    Sample(
        "resend",
        "email.suppressed",
        rs(
            "email.suppressed",
            suppressed={
                "message": "Resend has suppressed sending to this address.",
                "type": "OnAccountSuppressionList",
            },
        ),
        "rejected",
        "bounced",
        "bounced",
    ),
]


def rs_contact(t: Target) -> Any:
    """A contact of a Resend audience, unsubscribed through Resend's own link."""
    return {
        "type": "contact.updated",
        "created_at": "2026-11-24T13:50:00.000Z",
        "data": {
            "id": "e169aa45-1ecf-4183-9955-b1499d5701d3",
            "audience_id": "78261eea-8f8b-4381-83c6-79fa7120f1cf",
            "created_at": "2026-11-01T10:00:00.000Z",
            "updated_at": "2026-11-24T13:50:00.000Z",
            "email": t.email,
            "first_name": t.name.split()[0],
            "last_name": t.name.split()[-1],
            "unsubscribed": True,
        },
    }


RESEND.append(
    Sample("resend", "contact.updated-unsubscribed", rs_contact, "unsubscribe", "unsubscribed")
)


# -- Brevo ---------------------------------------------------------------------------------


def bv(event: str, **fields: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return {
            "event": event,
            "email": t.email,
            "id": 1234567,
            "date": "2026-11-24 14:28:10",
            "ts": int(time.time()) - 60,
            "message-id": t.message_id,
            "ts_event": int(time.time()) - 60,
            "subject": "Test Weekly #12",
            "tag": "weekly",
            "sending_ip": "185.41.28.109",
            "ts_epoch": int(time.time() * 1000) - 60_000,
            **fields,
        }

    return build


BREVO = [
    Sample("brevo", "request", bv("request"), "queued"),
    Sample("brevo", "delivered", bv("delivered"), "delivered"),
    Sample("brevo", "deferred", bv("deferred", reason="temporary failure"), "deferred"),
    Sample("brevo", "soft_bounce", bv("soft_bounce", reason="mailbox full"), "soft_bounce"),
    Sample(
        "brevo",
        "hard_bounce",
        bv("hard_bounce", reason="550 user unknown"),
        "hard_bounce",
        "bounced",
        "bounced",
    ),
    Sample("brevo", "invalid_email", bv("invalid_email"), "rejected", "bounced", "bounced"),
    Sample("brevo", "blocked", bv("blocked", reason="blocked by policy"), "rejected"),
    Sample("brevo", "error", bv("error", reason="sending error"), "rejected"),
    Sample("brevo", "spam", bv("spam"), "complaint", "complained", "complained"),
    Sample("brevo", "complaint", bv("complaint"), "complaint", "complained", "complained"),
    Sample("brevo", "unsubscribed", bv("unsubscribed"), "unsubscribe", "unsubscribed"),
    Sample("brevo", "opened", bv("opened"), "open"),
    Sample("brevo", "unique_opened", bv("unique_opened"), "open"),
    Sample("brevo", "proxy_open", bv("proxy_open"), "open"),
    Sample("brevo", "click", bv("click", link="https://example.org/a"), "click"),
]


# -- Mailjet -------------------------------------------------------------------------------


def mj(event: str, **fields: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return {
            "event": event,
            "time": int(time.time()) - 60,
            "MessageID": int(t.message_id),
            "Message_GUID": "1ab23cd4-e567-8901-2345-6789f0gh1i2j",
            "email": t.email,
            "mj_campaign_id": 7257,
            "mj_contact_id": 4,
            "customcampaign": "",
            "CustomID": t.digest_id,
            "Payload": "",
            **fields,
        }

    return build


MAILJET = [
    Sample(
        "mailjet",
        "sent",
        mj("sent", mj_message_id="19421777835146490", smtp_reply="sent (250 2.0.0 OK)"),
        "delivered",
    ),
    Sample("mailjet", "open", mj("open", ip="127.0.0.1", geo="US", agent="Mozilla/5.0"), "open"),
    Sample("mailjet", "click", mj("click", url="https://example.org/a", ip="127.0.0.1"), "click"),
    Sample(
        "mailjet",
        "bounce-hard",
        mj(
            "bounce",
            blocked=False,
            hard_bounce=True,
            error_related_to="recipient",
            error="user unknown",
        ),
        "hard_bounce",
        "bounced",
        "bounced",
    ),
    Sample(
        "mailjet",
        "bounce-soft",
        mj(
            "bounce",
            blocked=False,
            hard_bounce=False,
            error_related_to="recipient",
            error="quota exceeded",
        ),
        "soft_bounce",
    ),
    Sample(
        "mailjet",
        "bounce-greylisted",
        mj("bounce", hard_bounce=False, error_related_to="domain", error="greylisted"),
        "deferred",
    ),
    Sample(
        "mailjet",
        "blocked-user-unknown",
        mj("blocked", error_related_to="recipient", error="user unknown"),
        "rejected",
        "bounced",
        "bounced",
    ),
    Sample(
        "mailjet",
        "blocked-preblocked",
        mj("blocked", error_related_to="mailjet", error="preblocked"),
        "rejected",
    ),
    Sample("mailjet", "spam", mj("spam", source="JMRPP"), "complaint", "complained", "complained"),
    Sample(
        "mailjet",
        "unsub",
        mj("unsub", mj_list_id=1, ip="127.0.0.1", agent="Mozilla/5.0"),
        "unsubscribe",
        "unsubscribed",
    ),
]


# -- Amazon SES ----------------------------------------------------------------------------


def ses(kind: str, key: str = "eventType", **fields: Any) -> Callable[[Target], Any]:
    def build(t: Target) -> Any:
        return {
            key: kind,
            "mail": {
                "timestamp": "2026-11-24T13:28:00.000Z",
                "source": "weekly@example.org",
                "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/example.org",
                "sendingAccountId": "123456789012",
                "messageId": t.message_id,
                "destination": [t.email],
                "headersTruncated": False,
                "tags": {"ses:configuration-set": ["digest"], "digest_id": [t.digest_id]},
            },
            **{k: (v(t) if callable(v) else v) for k, v in fields.items()},
        }

    return build


def _bounce(kind: str) -> Callable[[Target], Any]:
    return lambda t: {
        "bounceType": kind,
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": t.email,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "timestamp": "2026-11-24T13:28:09.000Z",
        "feedbackId": f"0102019a-bounce-{kind}",
    }


SES = [
    Sample(
        "ses",
        "Bounce-Permanent",
        ses("Bounce", "notificationType", bounce=_bounce("Permanent")),
        "hard_bounce",
        "bounced",
        "bounced",
    ),
    Sample("ses", "Bounce-Transient", ses("Bounce", bounce=_bounce("Transient")), "soft_bounce"),
    Sample(
        "ses", "Bounce-Undetermined", ses("Bounce", bounce=_bounce("Undetermined")), "soft_bounce"
    ),
    Sample(
        "ses",
        "Complaint",
        ses(
            "Complaint",
            "notificationType",
            complaint=lambda t: {
                "complainedRecipients": [{"emailAddress": t.email}],
                "complaintFeedbackType": "abuse",
                "timestamp": "2026-11-24T13:30:00.000Z",
                "feedbackId": "0102019a-complaint",
            },
        ),
        "complaint",
        "complained",
        "complained",
    ),
    Sample(
        "ses",
        "Delivery",
        ses(
            "Delivery",
            "notificationType",
            delivery=lambda t: {
                "timestamp": "2026-11-24T13:28:05.000Z",
                "processingTimeMillis": 546,
                "recipients": [t.email],
                "smtpResponse": "250 ok",
                "reportingMTA": "a8-70.smtp-out",
            },
        ),
        "delivered",
    ),
    Sample("ses", "Send", ses("Send", send={}), "queued"),
    Sample("ses", "Reject", ses("Reject", reject={"reason": "Bad content"}), "rejected"),
    Sample(
        "ses",
        "Open",
        ses(
            "Open",
            open={
                "ipAddress": "192.0.2.1",
                "timestamp": "2026-11-24T13:40:00.000Z",
                "userAgent": "Mozilla/5.0",
            },
        ),
        "open",
    ),
    Sample(
        "ses",
        "Click",
        ses(
            "Click",
            click={
                "ipAddress": "192.0.2.1",
                "link": "https://example.org/a",
                "timestamp": "2026-11-24T13:41:00.000Z",
            },
        ),
        "click",
    ),
    Sample(
        "ses",
        "DeliveryDelay",
        ses(
            "DeliveryDelay",
            deliveryDelay=lambda t: {
                "delayType": "TransientCommunicationFailure",
                "expirationTime": "2026-11-25T13:28:00Z",
                "delayedRecipients": [{"emailAddress": t.email, "status": "4.4.1"}],
                "timestamp": "2026-11-24T13:35:00.000Z",
            },
        ),
        "deferred",
    ),
    Sample(
        "ses",
        "Rendering Failure",
        ses(
            "Rendering Failure",
            failure={"errorMessage": "Attribute 'name' is not present", "templateName": "weekly"},
        ),
        "rejected",
    ),
    Sample(
        "ses",
        "Subscription",
        ses(
            "Subscription",
            subscription={
                "contactList": "weekly",
                "timestamp": "2026-11-24T13:50:00.000Z",
                "source": "UnsubscribeHeader",
                "newTopicPreferences": {"unsubscribeAll": True},
                "oldTopicPreferences": {"unsubscribeAll": False},
            },
        ),
        "unsubscribe",
        "unsubscribed",
    ),
]

SAMPLES: list[Sample] = [*POSTMARK, *SENDGRID, *MAILGUN, *RESEND, *BREVO, *MAILJET, *SES]

UNKNOWN_TYPES: dict[str, Callable[[Target], Any]] = {
    "postmark": pm("Inbound"),
    "sendgrid": sg("teleported"),
    "mailgun": mg("teleported"),
    "resend": rs("domain.updated"),
    "brevo": bv("teleported"),
    "mailjet": mj("teleported"),
    "ses": ses("Teleported"),
}
"""A type each provider may send that digest does not act on: acknowledged, never an error."""
