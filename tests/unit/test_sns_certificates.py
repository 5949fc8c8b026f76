"""Certificate URLs (which hosts), the download (a real HTTP server on 127.0.0.1), the certificate
checks (validity, RSA, key usage, names) and the bounded per-URL cache."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import CertificateBuilder, Name, NameAttribute, random_serial_number
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from notifier.sns_http.certificates import (
    MAX_PEM_BYTES,
    SigningCertificates,
    check_certificate_url,
    download_pem,
    load_certificate,
    sns_host,
)
from notifier.sns_http.errors import CertificateUnavailable, UntrustedMessage
from tests.functional.smtp_server import closed_port
from tests.sns_signing_support import StandInCertificateHost, certificate_pem, signing_key

GOOD = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"

REFUSED_URLS = {
    "another host": "https://sns.evil.com/x.pem",
    "suffix": "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
    "plain http": "http://sns.us-east-1.amazonaws.com/x.pem",
    "userinfo then evil host": "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
    "evil userinfo then sns host": "https://evil.com@sns.us-east-1.amazonaws.com/x.pem",
    "explicit default port": "https://sns.us-east-1.amazonaws.com:443/x.pem",
    "other port": "https://sns.us-east-1.amazonaws.com:8443/x.pem",
    "port then userinfo": "https://sns.us-east-1.amazonaws.com:443@evil.com/x.pem",
    "backslash": "https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem",
    "encoded slash": "https://sns.us-east-1.amazonaws.com%2F@evil.com/x.pem",
    "trailing dot": "https://sns.us-east-1.amazonaws.com./x.pem",
    "upper case host": "https://SNS.us-east-1.amazonaws.com/x.pem",
    "unicode dot": "https://sns.us-east-1.amazonaws.com\u3002evil.com/x.pem",
    "newline": "https://sns.us-east-1.amazonaws.com/x.pem\n",
    "leading space": " https://sns.us-east-1.amazonaws.com/x.pem",
    "scheme-relative": "//sns.us-east-1.amazonaws.com/x.pem",
    "another region": "https://sns.us-west-2.amazonaws.com/x.pem",
    "china suffix outside china": "https://sns.us-east-1.amazonaws.com.cn/x.pem",
    "an S3 path that looks right": "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/x.pem",
    "not a .pem": "https://sns.us-east-1.amazonaws.com/x.txt",
    "query": "https://sns.us-east-1.amazonaws.com/x.pem?x=1",
    "query hiding the extension": "https://sns.us-east-1.amazonaws.com/?x=.pem",
    "fragment": "https://sns.us-east-1.amazonaws.com/x.pem#y",
    "no path": "https://sns.us-east-1.amazonaws.com",
}


@pytest.mark.parametrize("url", REFUSED_URLS.values(), ids=REFUSED_URLS.keys())
def test_a_certificate_url_off_the_sns_host_is_refused_and_never_fetched(url: str) -> None:
    host = StandInCertificateHost({url: certificate_pem()})
    with pytest.raises(UntrustedMessage):
        SigningCertificates(host).public_key(url, "us-east-1")
    assert host.fetched == []


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (GOOD, "us-east-1"),
        ("https://sns.eu-central-2.amazonaws.com/SimpleNotificationService-x.pem", "eu-central-2"),
        ("https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-x.pem", "us-gov-west-1"),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem", "cn-north-1"),
    ],
)
def test_the_sns_host_of_each_partition_is_accepted(url: str, region: str) -> None:
    check_certificate_url(url, region)


@pytest.mark.parametrize("region", ["us-east", "US-EAST-1", "evil.com/x", "", "us-east-1.evil"])
def test_a_region_that_is_not_one_is_refused(region: str) -> None:
    with pytest.raises(UntrustedMessage):
        sns_host(region)


def test_hosts_per_partition() -> None:
    assert sns_host("us-east-1") == "sns.us-east-1.amazonaws.com"
    assert sns_host("us-gov-east-1") == "sns.us-gov-east-1.amazonaws.com"
    assert sns_host("cn-northwest-1") == "sns.cn-northwest-1.amazonaws.com.cn"


# --- the certificate itself ---


def test_a_certificate_like_sns_s_is_accepted() -> None:
    load_certificate(certificate_pem(), "us-east-1")


@pytest.mark.parametrize(
    ("name", "region"),
    [("sns-cn-north-1.amazonaws.com.cn", "cn-north-1"), ("sns-us-gov-west-1.amazonaws.com", "us-gov-west-1")],
)
def test_the_names_china_and_govcloud_certificates_carry_are_accepted(name: str, region: str) -> None:
    load_certificate(certificate_pem(common_name=name), region)


@pytest.mark.parametrize("name", ["evil.example.com", "sns.amazonaws.com.evil.com", "sns-us-west-2.amazonaws.com"])
def test_a_certificate_that_does_not_name_sns_for_the_region_is_refused(name: str) -> None:
    with pytest.raises(UntrustedMessage, match="does not name SNS"):
        load_certificate(certificate_pem(common_name=name), "us-east-1")


def test_a_certificate_whose_key_may_not_sign_is_refused() -> None:
    with pytest.raises(UntrustedMessage, match="signatures"):
        load_certificate(certificate_pem(key_usage_signature=False), "us-east-1")
    load_certificate(certificate_pem(key_usage_signature=None), "us-east-1")  # no KeyUsage: unrestricted


def test_a_certificate_without_an_rsa_key_or_with_a_short_one_is_refused() -> None:
    now = datetime.now(UTC)
    name = Name([NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    ec_key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        CertificateBuilder().subject_name(name).issuer_name(name).serial_number(random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
    )  # fmt: skip
    ec_pem = builder.public_key(ec_key.public_key()).sign(ec_key, hashes.SHA256())
    with pytest.raises(UntrustedMessage, match="RSA"):
        load_certificate(ec_pem.public_bytes(serialization.Encoding.PEM), "us-east-1")
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(UntrustedMessage, match="1024 bits"):
        load_certificate(certificate_pem(short), "us-east-1")


NOT_CERTIFICATES = [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]


@pytest.mark.parametrize("pem", NOT_CERTIFICATES)
def test_something_that_is_not_a_pem_certificate_is_refused(pem: bytes) -> None:
    with pytest.raises(UntrustedMessage, match="not a PEM"):
        load_certificate(pem, "us-east-1")


def test_validity_dates_are_checked_at_every_use_not_only_when_fetched() -> None:
    now = datetime.now(UTC)
    pem = certificate_pem(not_before=now - timedelta(days=2), not_after=now + timedelta(days=1))
    clock = [now]
    certificates = SigningCertificates(StandInCertificateHost({GOOD: pem}), clock=lambda: clock[0])
    assert certificates.public_key(GOOD, "us-east-1").key_size == 2048
    clock[0] = now + timedelta(days=2)  # the cached certificate has expired since
    with pytest.raises(UntrustedMessage, match="expired"):
        certificates.public_key(GOOD, "us-east-1")
    clock[0] = now - timedelta(days=3)
    with pytest.raises(UntrustedMessage, match="not valid yet"):
        certificates.public_key(GOOD, "us-east-1")


# --- the cache ---


def test_the_cache_is_per_url_bounded_and_least_recently_used_out() -> None:
    urls = [GOOD.replace("0123", f"{n:04d}") for n in range(3)]
    host = StandInCertificateHost({url: certificate_pem() for url in urls})
    certificates = SigningCertificates(host, entries=2)
    certificates.public_key(urls[0], "us-east-1")
    certificates.public_key(urls[1], "us-east-1")
    certificates.public_key(urls[0], "us-east-1")  # cached, and now the most recently used
    certificates.public_key(urls[2], "us-east-1")  # evicts urls[1]
    assert host.fetched == urls
    assert certificates.cached_urls() == [urls[0], urls[2]]
    assert certificates.public_key(urls[0], "us-east-1").public_numbers() == signing_key().public_key().public_numbers()


def test_a_refused_certificate_is_not_cached() -> None:
    host = StandInCertificateHost({GOOD: certificate_pem(common_name="evil.example.com")})
    certificates = SigningCertificates(host)
    for _ in range(2):
        with pytest.raises(UntrustedMessage):
            certificates.public_key(GOOD, "us-east-1")
    assert certificates.cached_urls() == [] and len(host.fetched) == 2


# --- the download, against a real HTTP server ---


def test_the_download_returns_the_pem(httpserver: HTTPServer) -> None:
    pem = certificate_pem()
    httpserver.expect_request("/cert.pem").respond_with_data(pem, content_type="application/x-x509-ca-cert")
    assert download_pem(httpserver.url_for("/cert.pem"), session=requests.Session()) == pem


@pytest.mark.parametrize(("status", "error"), [(404, UntrustedMessage), (403, UntrustedMessage),
                                               (500, CertificateUnavailable), (503, CertificateUnavailable),
                                               (429, CertificateUnavailable)])  # fmt: skip
def test_a_client_error_refuses_and_a_server_error_asks_for_a_retry(
    httpserver: HTTPServer, status: int, error: type[Exception]
) -> None:
    httpserver.expect_request("/cert.pem").respond_with_data("no", status=status)
    with pytest.raises(error, match=str(status)):
        download_pem(httpserver.url_for("/cert.pem"), session=requests.Session())


def test_a_redirect_is_never_followed(httpserver: HTTPServer) -> None:
    elsewhere = httpserver.url_for("/elsewhere.pem")
    httpserver.expect_request("/cert.pem").respond_with_data("", status=302, headers={"Location": elsewhere})
    httpserver.expect_request("/elsewhere.pem").respond_with_data(certificate_pem())
    with pytest.raises(UntrustedMessage, match="302"):
        download_pem(httpserver.url_for("/cert.pem"), session=requests.Session())
    assert [request.path for request, _ in httpserver.log] == ["/cert.pem"]


def test_an_oversized_answer_is_refused_without_being_read_whole(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cert.pem").respond_with_data(b"A" * (MAX_PEM_BYTES * 64))
    with pytest.raises(UntrustedMessage, match="larger than"):
        download_pem(httpserver.url_for("/cert.pem"), session=requests.Session())


def test_an_unreachable_or_slow_host_asks_for_a_retry(httpserver: HTTPServer) -> None:
    with pytest.raises(CertificateUnavailable, match="ConnectionError"):
        download_pem(f"http://127.0.0.1:{closed_port()}/cert.pem", session=requests.Session())

    def slow(_request: Request) -> Response:
        time.sleep(0.5)
        return Response(certificate_pem())

    httpserver.expect_request("/cert.pem").respond_with_handler(slow)
    with pytest.raises(CertificateUnavailable, match="Timeout"):
        download_pem(httpserver.url_for("/cert.pem"), session=requests.Session(), timeout=0.1)
