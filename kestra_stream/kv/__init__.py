"""The key-value store of each namespace, kept in internal storage (see ``KVStore``)."""

from kestra_stream.kv._store import KVEntry, KVStore, KVStoreError, check_key
from kestra_stream.kv._values import KVType, coerce, infer_type

__all__ = ["KVEntry", "KVStore", "KVStoreError", "KVType", "check_key", "coerce", "infer_type"]
