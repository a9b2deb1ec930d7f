"""The executor (faust) receives the same Kafka security settings as the confluent-kafka clients."""

from __future__ import annotations

import faust
import pytest

from kestra_stream.errors import BackendError
from kestra_stream.kafka.executor._credentials import faust_credentials


def test_plaintext_needs_no_credentials() -> None:
    assert faust_credentials({}) is None
    assert faust_credentials({"security.protocol": "plaintext"}) is None


def test_sasl_scram_over_tls_becomes_faust_sasl_credentials() -> None:
    credentials = faust_credentials({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                                     "sasl.username": "kestra", "sasl.password": "secret"})
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("kestra", "secret")
    assert credentials.ssl_context is not None


def test_a_security_setting_the_executor_cannot_translate_is_refused() -> None:
    with pytest.raises(BackendError, match=r"sasl\.oauthbearer\.config"):
        faust_credentials({"security.protocol": "SASL_SSL", "sasl.oauthbearer.config": "x"})
