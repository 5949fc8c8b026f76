"""The string to sign and the signature check (shared/notes/sns-signature.md §1, §2, §4), on the AWS
doc's own HTTP bodies and on messages signed here with a local key (tests/sns_signing_support.py)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from notifier.sns_http.certificates import SigningCertificates
from notifier.sns_http.errors import UntrustedMessage
from notifier.sns_http.signature import SIGNED_FIELDS, string_to_sign, topic_region, verify_message
from tests.conftest import compliance_message
from tests.sns_signing_support import (
    CERT_URL,
    CONFIRMATION_FIXTURE,
    CONFIRMATION_SIGNED,
    NOTIFICATION_FIXTURE,
    NOTIFICATION_SIGNED,
    REGION,
    UNSUBSCRIBE_FIXTURE,
    StandInCertificateHost,
    fixture,
    notification,
    sign,
    signing_key,
)


def key_for(url: str, region: str) -> RSAPublicKey:
    assert (url, region) == (CERT_URL, REGION)
    return signing_key().public_key()


def test_the_doc_notification_signs_its_fields_in_the_documented_order() -> None:
    _, body = fixture(NOTIFICATION_FIXTURE)
    assert string_to_sign(body) == (
        b"Message\nHello world!\n"
        b"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"Subject\nMy First Message\n"
        b"Timestamp\n2012-05-02T00:54:06.655Z\n"
        b"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        b"Type\nNotification\n"
    )


@pytest.mark.parametrize("path", [CONFIRMATION_FIXTURE, UNSUBSCRIBE_FIXTURE], ids=["subscribe", "unsubscribe"])
def test_both_confirmations_sign_subscribe_url_and_token_over_decoded_values(path: Any) -> None:
    _, body = fixture(path)
    signed = string_to_sign(body).decode()
    # The Message holds an escaped "\n" in the JSON body: it is signed as the newline it stands for.
    assert "\n" in body["Message"] and f"Message\n{body['Message']}\n" in signed and "\\n" not in signed
    assert signed == "".join(f"{name}\n{body[name]}\n" for name in CONFIRMATION_SIGNED)
    assert f"Token\n{body['Token']}\nTopicArn\n" in signed  # the Token JS's validator forgets for Unsubscribe


def test_the_field_lists_are_the_documented_ones() -> None:
    assert SIGNED_FIELDS["Notification"] == NOTIFICATION_SIGNED
    assert SIGNED_FIELDS["SubscriptionConfirmation"] == SIGNED_FIELDS["UnsubscribeConfirmation"] == CONFIRMATION_SIGNED


def test_a_null_subject_is_left_out_as_an_absent_one_is() -> None:
    with_null = notification("{}", Subject=None)
    without = {k: v for k, v in with_null.items() if k != "Subject"}
    assert string_to_sign(with_null) == string_to_sign(without)
    assert b"Subject" not in string_to_sign(without)


@pytest.mark.parametrize("version", ["1", "2"])
def test_version_1_and_2_signatures_verify(version: str) -> None:
    verify_message(sign(notification(compliance_message()), version=version), key_for)


@pytest.mark.parametrize("subject", [None, "absent", "NON_COMPLIANT in 123456789012"])
def test_subject_absent_null_or_present_verifies(subject: str | None) -> None:
    message = notification(compliance_message(), Subject=subject)
    if subject == "absent":
        del message["Subject"]
    verify_message(sign(message), key_for)


@pytest.mark.parametrize("field", NOTIFICATION_SIGNED)
def test_changing_any_signed_field_of_a_notification_is_refused(field: str) -> None:
    message = sign(notification(compliance_message()))
    message[field] = message[field] + " " if field != "Type" else "SubscriptionConfirmation"
    with pytest.raises(UntrustedMessage):
        verify_message(message, key_for)


@pytest.mark.parametrize("field", CONFIRMATION_SIGNED)
def test_changing_any_signed_field_of_a_confirmation_is_refused(field: str) -> None:
    _, body = fixture(CONFIRMATION_FIXTURE)
    message = sign(body)
    message[field] = message[field] + "x" if field != "Type" else "UnsubscribeConfirmation"
    with pytest.raises(UntrustedMessage):
        verify_message(message, key_for)


@pytest.mark.parametrize(("first", "second"), [("Message", "Subject"), ("MessageId", "Timestamp")])
def test_swapping_two_signed_values_is_refused(first: str, second: str) -> None:
    message = sign(notification(compliance_message()))
    message[first], message[second] = message[second], message[first]
    with pytest.raises(UntrustedMessage):
        verify_message(message, key_for)


def test_adding_or_removing_a_subject_is_refused() -> None:
    with_subject = sign(notification(compliance_message()))
    without = {k: v for k, v in with_subject.items() if k != "Subject"}
    with pytest.raises(UntrustedMessage):
        verify_message(without, key_for)
    signed_without = sign(without)
    with pytest.raises(UntrustedMessage):
        verify_message({**signed_without, "Subject": "added"}, key_for)


def test_fields_sns_does_not_sign_may_change_without_breaking_the_signature() -> None:
    """As documented: UnsubscribeURL is not signed, so nothing here may ever act on it."""
    message = sign(notification(compliance_message()))
    verify_message({**message, "UnsubscribeURL": "https://example.com/elsewhere"}, key_for)


def test_a_signature_made_with_another_key_is_refused() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(UntrustedMessage, match="does not match"):
        verify_message(sign(notification(compliance_message()), key=other), key_for)


def test_claiming_the_other_signature_version_is_refused() -> None:
    message = sign(notification(compliance_message()), version="1")
    with pytest.raises(UntrustedMessage):
        verify_message({**message, "SignatureVersion": "2"}, key_for)


@pytest.mark.parametrize("version", ["3", "0", 1, None, ""])
def test_unknown_signature_versions_are_refused(version: Any) -> None:
    message = {**sign(notification(compliance_message())), "SignatureVersion": version}
    with pytest.raises(UntrustedMessage, match="SignatureVersion"):
        verify_message(message, key_for)


@pytest.mark.parametrize("signature", ["not base64!", "", None])
def test_a_missing_or_undecodable_signature_is_refused(signature: Any) -> None:
    message = {**sign(notification(compliance_message())), "Signature": signature}
    with pytest.raises(UntrustedMessage):
        verify_message(message, key_for)


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "TopicArn"])
def test_a_missing_or_non_string_signed_field_is_refused(field: str) -> None:
    message = sign(notification(compliance_message()))
    for broken in ({k: v for k, v in message.items() if k != field}, {**message, field: 42}):
        with pytest.raises(UntrustedMessage, match=field):
            verify_message(broken, key_for)


def test_the_lambda_spelling_of_the_certificate_url_is_read_too() -> None:
    message = sign(notification(compliance_message()))
    message["SigningCertUrl"] = message.pop("SigningCertURL")
    verify_message(message, key_for)


def test_through_the_certificate_store_the_key_comes_from_the_stand_in_host_once() -> None:
    host = StandInCertificateHost()
    certificates = SigningCertificates(host)
    for version in ("1", "2"):
        verify_message(sign(notification(compliance_message()), version=version), certificates.public_key)
    assert host.fetched == [CERT_URL]


@pytest.mark.parametrize(
    "arn", ["arn:aws:sqs:us-west-2:123456789012:q", "arn:aws:sns:us-west-2:123", "not an arn", "", None]
)
def test_a_topic_arn_that_is_not_an_sns_topic_is_refused(arn: Any) -> None:
    with pytest.raises(UntrustedMessage):
        topic_region(arn)


def test_the_regions_of_every_partition() -> None:
    assert topic_region("arn:aws:sns:eu-central-2:123456789012:t") == "eu-central-2"
    assert topic_region("arn:aws-cn:sns:cn-north-1:123456789012:t") == "cn-north-1"
    assert topic_region("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t") == "us-gov-west-1"


def test_verifying_imports_neither_the_pipeline_nor_waitress() -> None:
    code = (
        "import sys, notifier.sns_http.signature, notifier.sns_http.certificates, notifier.sns_http;"
        "loaded = [m for m in ('notifier.pipeline', 'notifier.batch', 'waitress') if m in sys.modules];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
