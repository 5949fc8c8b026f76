"""SNS signing certificates: where one may come from, fetching it, what we check in it, and a cache.

The notes (shared/notes/sns-signature.md §3) list what AWS asks for: fetch over HTTPS, only from SNS,
and check the certificate. What this module does, and why:

* **The URL.** `https`, and the host must be *exactly* the SNS endpoint of the topic's region:
  ``sns.<region>.amazonaws.com``, or ``sns.<region>.amazonaws.com.cn`` for the China regions (GovCloud
  regions use the first form). The whole authority (``netloc``) is compared with that host, so
  userinfo (``sns.us-east-1.amazonaws.com@evil.com``), an explicit port, a suffix
  (``…amazonaws.com.evil.com``), a trailing dot or a change of case all fail the same one comparison.
  The path must end in ``.pem``, with no query or fragment. The AWS validators accept any region
  (a regex on the host); pinning the host to the region of the topic, as the AWS Java SDK v1 does,
  also refuses another region's certificate host, which no documented or captured message names.
* **The fetch.** requests with a timeout, no redirects (a redirect could lead off the SNS host), and
  at most `MAX_PEM_BYTES` read. A 4xx from the SNS host means there is no such certificate: the
  message is refused. A timeout, a connection error or a 5xx is our problem or AWS's, not the
  message's: `CertificateUnavailable`, and the subscriber answers 503 so that SNS retries.
* **The certificate.** Parsed with cryptography's x509. It must be valid now (not before / not
  after, checked at every use, not only when fetched), hold an RSA key of at least 2048 bits, allow
  digital signatures when it says what its key is for, and name SNS in its subject CN or a DNS
  subject alternative name: ``sns.amazonaws.com`` (what the AWS Java SDK v1 expects outside China and
  GovCloud, and what moto's stand-in carries) or the ``sns-<region>`` / ``sns.<region>`` names that SDK
  expects in China and GovCloud. No chain is built: the message names one certificate file, and the
  TLS connection to the exact SNS host, verified against requests' CA bundle (certifi, or
  REQUESTS_CA_BUNDLE), is what vouches for it.
* **The cache.** Per URL, bounded (least recently used first out), thread-safe: a URL names one
  certificate, and fetching it for every message would add a round trip to every delivery.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.x509.oid import NameOID

from .errors import CertificateUnavailable, UntrustedMessage

# A signing certificate is about 1.7 KB of PEM; anything much larger is not one.
MAX_PEM_BYTES = 16_384
FETCH_TIMEOUT_SECONDS = 5.0
CACHE_ENTRIES = 32
MIN_RSA_BITS = 2048

# us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, ap-southeast-5: letters, dashes, a number.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
# Printable ASCII and nothing else: no spaces, tabs, newlines or backslashes for parsers to disagree on.
_PLAIN_URL = re.compile(r"[!-\[\]-~]{1,2048}")

FetchPem = Callable[[str], bytes]  # an already checked certificate URL → its PEM bytes
Clock = Callable[[], datetime]


def sns_host(region: str) -> str:
    """The SNS endpoint host of a region: the only host certificates and confirmations may come from."""
    if not _REGION.fullmatch(region):
        raise UntrustedMessage(f"{region[:40]!r} is not an AWS region")
    return f"sns.{region}.amazonaws.com.cn" if region.startswith("cn-") else f"sns.{region}.amazonaws.com"


def check_sns_url(url: str, region: str, what: str) -> SplitResult:
    """`url`, split, when it is an https URL on the SNS host of `region` exactly; else UntrustedMessage."""
    if not _PLAIN_URL.fullmatch(url):
        raise UntrustedMessage(f"the {what} is not a plain https URL")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UntrustedMessage(f"the {what} does not use https")
    if parts.netloc != sns_host(region):  # userinfo, ports and look-alike hosts all end up here
        raise UntrustedMessage(f"the {what} is not on {sns_host(region)}")
    return parts


def check_certificate_url(url: str, region: str) -> None:
    parts = check_sns_url(url, region, "certificate URL")
    if not parts.path.startswith("/") or not parts.path.endswith(".pem") or parts.query or parts.fragment:
        raise UntrustedMessage("the certificate URL does not name a .pem file")


def download_pem(url: str, *, session: requests.Session, timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """GET a certificate: no redirects, at most MAX_PEM_BYTES. Does not check the URL (callers do)."""
    try:
        with session.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
            status = response.status_code
            if status >= 500 or status == 429:
                raise CertificateUnavailable(f"the certificate host answered HTTP {status}")
            if status != 200:  # 3xx included: the certificate must be where the signed message says
                raise UntrustedMessage(f"the certificate URL answered HTTP {status}")
            body = bytearray()
            for chunk in response.iter_content(chunk_size=4096):
                body += chunk
                if len(body) > MAX_PEM_BYTES:
                    raise UntrustedMessage(f"the certificate is larger than {MAX_PEM_BYTES} bytes")
            return bytes(body)
    except requests.RequestException as exc:  # timeouts, refused connections, TLS failures
        raise CertificateUnavailable(f"cannot fetch the certificate: {type(exc).__name__}") from exc


def https_fetcher(session: requests.Session | None = None, timeout: float = FETCH_TIMEOUT_SECONDS) -> FetchPem:
    """The production fetcher: one requests session (TLS verified by requests) for every fetch."""
    shared = session or requests.Session()
    return lambda url: download_pem(url, session=shared, timeout=timeout)


def accepted_names(region: str) -> frozenset[str]:
    """The names an SNS signing certificate for `region` may carry (see the module docstring)."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return frozenset({"sns.amazonaws.com", f"sns.{domain}", f"sns-{region}.{domain}", f"sns.{region}.{domain}"})


def load_certificate(pem: bytes, region: str) -> x509.Certificate:
    """Parse a PEM and check what does not change with time: key type and size, key usage, names."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise UntrustedMessage("the certificate is not a PEM X.509 certificate") from exc
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise UntrustedMessage("the certificate does not hold an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise UntrustedMessage(f"the certificate's RSA key has {key.key_size} bits, fewer than {MIN_RSA_BITS}")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.digital_signature:
        raise UntrustedMessage("the certificate's key may not be used for signatures")
    if not certificate_names(certificate) & accepted_names(region):
        raise UntrustedMessage("the certificate does not name SNS")
    return certificate


def certificate_names(certificate: x509.Certificate) -> set[str]:
    names = {str(a.value).lower() for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    try:
        alternatives = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return names
    return names | {name.lower() for name in alternatives.get_values_for_type(x509.DNSName)}


def check_validity(certificate: x509.Certificate, now: datetime) -> None:
    if now < certificate.not_valid_before_utc:
        raise UntrustedMessage("the certificate is not valid yet")
    if now > certificate.not_valid_after_utc:
        raise UntrustedMessage("the certificate has expired")


class SigningCertificates:
    """Public keys of SNS signing certificates: URL checked, fetched once, certificate checked, cached."""

    def __init__(self, fetch: FetchPem | None = None, *, entries: int = CACHE_ENTRIES, clock: Clock | None = None):
        self._fetch = fetch or https_fetcher()
        self._entries = entries
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def public_key(self, url: str, region: str) -> RSAPublicKey:
        """The key that signed a message of `region` whose SigningCertURL is `url`; raises when untrusted."""
        check_certificate_url(url, region)  # before the cache too: a cached URL is only ever a checked one
        with self._lock:
            certificate = self._cache.get(url)
            if certificate is not None:
                self._cache.move_to_end(url)
        if certificate is None:
            # Fetched outside the lock: one slow fetch must not hold up messages signed with cached keys.
            certificate = load_certificate(self._fetch(url), region)
            with self._lock:
                self._cache[url] = certificate
                while len(self._cache) > self._entries:
                    self._cache.popitem(last=False)
        check_validity(certificate, self._clock())
        key = certificate.public_key()
        assert isinstance(key, RSAPublicKey), "load_certificate admits RSA keys only"
        return key

    def cached_urls(self) -> list[str]:
        with self._lock:
            return list(self._cache)
