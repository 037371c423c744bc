"""The media bucket (MEDIA_BUCKET, S3): the copies of inbound MMS files, one object per file
(`domain.media.object_key`), and the short-lived links the archive's answers carry (presigned GET, signed by the
answering function's role: a link works only while that role may read the object, and for `MEDIA_LINK_SECONDS`).

The S3 client is made from the tables' botocore session (endpoint data loaded once), Signature Version 4 (what
presigned links need), with the tables' connect timeout and retries and a longer read timeout (a file is up to
`domain.media.MAX_FILE_BYTES`). `AWS_ENDPOINT_URL_S3` names another endpoint (the local stack's emulator), as for
every AWS client.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from aircall_sms.settings import get_settings
from aircall_sms.store.base import botocore_session

READ_TIMEOUT = 10.0
_DELETE_BATCH = 1000  # DeleteObjects' limit


@lru_cache(maxsize=1)
def _client() -> Any:
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        signature_version="s3v4",
        connect_timeout=settings.dynamodb_connect_timeout,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
        s3={"addressing_style": "path"},
    )
    return botocore_session().create_client("s3", config=config)


def forget() -> None:
    """Forget the S3 client (a new endpoint or new settings: tests)."""
    _client.cache_clear()


def _bucket() -> str:
    return get_settings().media_bucket


def put(key: str, content: bytes, content_type: str) -> None:
    """Keep one file (encrypted at rest by the bucket's default encryption); served as an attachment."""
    _client().put_object(
        Bucket=_bucket(),
        Key=key,
        Body=content,
        ContentType=content_type,
        ContentDisposition="attachment",
    )


def delete(keys: Sequence[str]) -> int:
    """Delete these objects (absent ones count as deleted, as S3 answers); how many were asked for."""
    client = _client()
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        answer = client.delete_objects(
            Bucket=_bucket(), Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if answer.get("Errors"):
            codes = sorted({str(error.get("Code")) for error in answer["Errors"]})
            raise RuntimeError(f"{len(answer['Errors'])} media objects were not deleted: {', '.join(codes)}")
    return len(keys)


def link(key: str) -> str:
    """A presigned GET link of one object, valid `MEDIA_LINK_SECONDS` (computed here: no request to S3)."""
    url: str = _client().generate_presigned_url(
        "get_object", Params={"Bucket": _bucket(), "Key": key}, ExpiresIn=get_settings().media_link_seconds
    )
    return url


def read(key: str) -> tuple[bytes, str | None]:
    """One object's bytes and content type (operations and tests)."""
    answer = _client().get_object(Bucket=_bucket(), Key=key)
    return answer["Body"].read(), answer.get("ContentType")
