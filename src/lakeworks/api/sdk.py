"""``GET /api/v2/python.tar.gz``: the ``cmlapi`` client as a pip-installable sdist.

Public, as CML serves it: workloads ``pip install`` it from ``CDSW_API_URL`` (its final
``1`` turned into ``2``) before they hold any key, and it contains no secret.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lakeworks.sdk import sdist

router = APIRouter()


@router.get("/python.tar.gz", operation_id="get_python_client", include_in_schema=False)
def python_client(request: Request) -> Response:
    data = sdist.build()
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {
        "Content-Disposition": f'attachment; filename="{sdist.filename()}"',
        "ETag": etag,
        "Cache-Control": "no-cache",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/gzip", headers=headers)
