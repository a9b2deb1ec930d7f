"""The librdkafka security settings of ``KafkaSettings.client``, as faust (aiokafka) takes them.

Workers and clients use confluent-kafka, which reads those settings as they are; the executor
runs on faust, whose names differ, so the common ones (TLS, SASL PLAIN / SCRAM) are translated
here and anything else security-related is refused rather than silently ignored.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import faust

from kestra_stream.errors import BackendError

_HANDLED = {"security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password",
            "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password"}


def faust_credentials(client: Mapping[str, str]) -> faust.types.auth.CredentialsT | None:
    protocol = client.get("security.protocol", "PLAINTEXT").upper()
    unknown = sorted(k for k in client if (k.startswith(("sasl.", "ssl.")) and k not in _HANDLED))
    if unknown:
        raise BackendError(f"the executor cannot use the Kafka settings {', '.join(unknown)} yet; supported: "
                           f"{', '.join(sorted(_HANDLED))}")
    if protocol == "PLAINTEXT":
        return None
    context: ssl.SSLContext | None = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=client.get("ssl.ca.location"))
        if "ssl.certificate.location" in client:
            context.load_cert_chain(client["ssl.certificate.location"], client.get("ssl.key.location"),
                                    client.get("ssl.key.password"))
        if protocol == "SSL":
            return faust.SSLCredentials(context)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        mechanism = client.get("sasl.mechanism", client.get("sasl.mechanisms", "PLAIN"))
        return faust.SASLCredentials(username=client.get("sasl.username"), password=client.get("sasl.password"),
                                     mechanism=mechanism, ssl_context=context)
    raise BackendError(f"security.protocol {protocol!r} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
