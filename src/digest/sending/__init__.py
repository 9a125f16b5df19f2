"""Sending: recipients, suppression, personalisation, the SQLite ledger, the job and its lock.

The public surface used by the CLI and by other programs::

    prepare_issue(settings, path)           render an issue file once → Prepared
    send_issue(settings, prepared, ...)     the list send (resumable) → SendReport
    send_due(settings, ...)                 every due issue in [issues] dir
    plan_send(settings, prepared, ...)      the --dry-run plan → SendPlan
    send_test(settings, prepared, [...])    a "[TEST] " send that never touches the ledger
    Ledger(path)                            status, suppression, provider events
    verify(token, secret, list_id)          for the site that receives unsubscribe clicks
    Subscribers(ledger)                     readers who joined: status and consent records
    export_person / forget                  a person's data on request
"""

from .due import DueResult, due_exit_code, send_due
from .job import Prepared, SendReport, ledger_path, prepare_issue, recipients_path, send_issue
from .ledger import Ledger
from .lock import JobLock, lock_path
from .personalise import Personaliser
from .plan import SendPlan, plan_send
from .privacy import ForgetResult, ForgottenCheck, export_person, forget
from .recipients import BadRow, CsvFormat, Row, read_recipients, sniff_recipients
from .report import Reporter, make_reporter
from .subscriber_io import ImportResult, add_subscribers, export_subscribers, import_subscribers
from .subscribers import Subscribers
from .suppression import (
    SuppressResult,
    import_suppressions,
    suppress_addresses,
    unsuppress_addresses,
)
from .testsend import TEST_PREFIX, send_test
from .tokens import make_token, verify

__all__ = [
    "TEST_PREFIX",
    "BadRow",
    "CsvFormat",
    "DueResult",
    "ForgetResult",
    "ForgottenCheck",
    "ImportResult",
    "JobLock",
    "Ledger",
    "Personaliser",
    "Prepared",
    "Reporter",
    "Row",
    "SendPlan",
    "SendReport",
    "Subscribers",
    "SuppressResult",
    "add_subscribers",
    "due_exit_code",
    "export_person",
    "export_subscribers",
    "forget",
    "import_subscribers",
    "import_suppressions",
    "ledger_path",
    "lock_path",
    "make_reporter",
    "make_token",
    "plan_send",
    "prepare_issue",
    "read_recipients",
    "recipients_path",
    "send_due",
    "send_issue",
    "send_test",
    "sniff_recipients",
    "suppress_addresses",
    "unsuppress_addresses",
    "verify",
]
