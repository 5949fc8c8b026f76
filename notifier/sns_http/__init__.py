"""Receive SNS HTTP(S) deliveries: verify them (this package's public surface) and serve them.

    signature      the string to sign, SignatureVersion 1 and 2, `verify_message`
    certificates   where a signing certificate may come from, fetching it, checking it, a cache
    confirmations  which SubscribeURL we visit, and the visit
    subscriber     the WSGI application (imports the pipeline)
    server         waitress, `compliance-notifier serve` (imports waitress)

Only the verification side is re-exported here, so that importing it pulls in neither the pipeline
nor waitress: a Lambda or another service can verify SNS messages with it alone.
"""

from .certificates import SigningCertificates, check_certificate_url, https_fetcher, sns_host
from .errors import CertificateUnavailable, UntrustedMessage
from .signature import SIGNED_FIELDS, string_to_sign, topic_region, verify_message

__all__ = [
    "SIGNED_FIELDS",
    "CertificateUnavailable",
    "SigningCertificates",
    "UntrustedMessage",
    "check_certificate_url",
    "https_fetcher",
    "sns_host",
    "string_to_sign",
    "topic_region",
    "verify_message",
]
