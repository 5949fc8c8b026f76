"""Verify the signature of an SNS message (shared/notes/sns-signature.md §1, §2, §4).

The string to sign is ``Name\\nValue\\n`` for each signed field, in this order (already byte-sorted):

    Notification                                 Message, MessageId, Subject (only if present), Timestamp,
                                                 TopicArn, Type
    SubscriptionConfirmation, UnsubscribeConfirmation
                                                 Message, MessageId, SubscribeURL, Timestamp, Token,
                                                 TopicArn, Type

over the *decoded* JSON string values (``Message`` is the Config document as a string: signed as it
came, never re-serialised). A ``Subject`` that is null (as SNS → Lambda records carry it) is absent.
``SignatureVersion`` "1" is SHA1withRSA, "2" SHA256withRSA, both PKCS#1 v1.5; anything else is refused.
Both spellings of the certificate URL key are read (``SigningCertURL`` over HTTP, ``SigningCertUrl`` in
Lambda records), so the same check serves every envelope.

Nothing here knows about the pipeline or HTTP: a message is a mapping, and the public key comes from
an injected `PublicKeyFor` (in production `SigningCertificates.public_key`, which checks the URL).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .errors import UntrustedMessage

_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}
OPTIONAL_FIELDS = frozenset({"Subject"})
SIGNATURE_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
CERTIFICATE_URL_KEYS = ("SigningCertURL", "SigningCertUrl")

PublicKeyFor = Callable[[str, str], RSAPublicKey]  # (certificate URL, topic's region) → key


def message_type(message: Mapping[str, Any]) -> str:
    kind = message.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise UntrustedMessage(f"Type {str(kind)[:40]!r} is not an SNS message type")
    return kind


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The exact bytes SNS signed for this message; UntrustedMessage when a signed field is missing."""
    pieces: list[str] = []
    for name in SIGNED_FIELDS[message_type(message)]:
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise UntrustedMessage(f"the signed field {name} is {'missing' if value is None else 'not a string'}")
        pieces.append(f"{name}\n{value}\n")
    return "".join(pieces).encode("utf-8")


def topic_region(topic_arn: Any) -> str:
    """The region of an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)."""
    parts = topic_arn.split(":") if isinstance(topic_arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        raise UntrustedMessage("TopicArn is not an SNS topic ARN")
    return parts[3]


def certificate_url(message: Mapping[str, Any]) -> str:
    for key in CERTIFICATE_URL_KEYS:
        value = message.get(key)
        if isinstance(value, str):
            return value
    raise UntrustedMessage("the message has no SigningCertURL")


def verify_message(message: Mapping[str, Any], public_key_for: PublicKeyFor) -> None:
    """Return when SNS signed this message for its topic's region; raise UntrustedMessage otherwise
    (or CertificateUnavailable when the certificate cannot be fetched right now)."""
    signed = string_to_sign(message)
    version = message.get("SignatureVersion")
    algorithm = SIGNATURE_HASHES.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise UntrustedMessage(f"SignatureVersion {str(version)[:10]!r} is not 1 or 2")
    encoded = message.get("Signature")
    if not isinstance(encoded, str):
        raise UntrustedMessage("the message has no Signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise UntrustedMessage("the Signature is not base64") from exc
    key = public_key_for(certificate_url(message), topic_region(message.get("TopicArn")))
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise UntrustedMessage("the signature does not match the message") from exc
