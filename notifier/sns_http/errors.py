"""The two ways checking an SNS message can fail, and what the subscriber answers for each.

    NotifierError
    ├── UntrustedMessage        the message is not provably from SNS for an allowed topic → 403
    └── CertificateUnavailable  the signing certificate could not be fetched now → 503

The difference matters because SNS retries only 5xx (and 429) answers: a forged message must get a 4xx
so nothing retries it, while a certificate that cannot be fetched because of a network hiccup on our
side must get a 5xx so that SNS delivers the genuine message again later.
"""

from __future__ import annotations

from ..errors import NotifierError


class UntrustedMessage(NotifierError):
    """Refuse the message: its signature, certificate, certificate URL or topic does not hold up."""


class CertificateUnavailable(NotifierError):
    """The certificate host did not answer usefully (timeout, connection error, 5xx): try again later."""
