"""Jupyter's identity provider for sessions: only the Lakeworks proxy gets in.

The session's Jupyter server listens on a loopback port that other local processes could
reach. Every request must carry the session's token (random, per session, made by the
server) in ``X-Lakeworks-Session-Token``, a header only the proxy adds after it checked that
the caller is the session's owner; a direct connection without it is refused (403, or the
login page). The token is taken from ``LAKEWORKS_JUPYTER_TOKEN`` and removed from the
environment at once, so kernels and terminals do not inherit it.

Unlike Jupyter's own token (``?token=`` or ``Authorization: token``), this one never makes a
request count as "token-authenticated": Jupyter would then skip its XSRF and ``Origin``
checks, which still protect the owner's browser behind the proxy.
"""

from __future__ import annotations

import hmac
import inspect
import os

from jupyter_server.auth.identity import IdentityProvider, User
from traitlets import default

TOKEN_HEADER = "X-Lakeworks-Session-Token"
TOKEN_VARIABLE = "LAKEWORKS_JUPYTER_TOKEN"


class ProxyIdentityProvider(IdentityProvider):
    """Accepts requests that carry the session token in ``X-Lakeworks-Session-Token``.

    Example::

        # jupyter lab --ServerApp.identity_provider_class=<this module>.ProxyIdentityProvider
        ProxyIdentityProvider().get_token  # reads the X-Lakeworks-Session-Token header
    """

    @default("token")
    def _token_default(self) -> str:
        return os.environ.pop(TOKEN_VARIABLE, "")

    def get_token(self, handler: object) -> str:
        return str(handler.request.headers.get(TOKEN_HEADER, ""))  # type: ignore[attr-defined]

    async def get_user_token(self, handler: object) -> User | None:
        expected = str(self.token or "")
        sent = self.get_token(handler)
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return None
        user = self.get_user_cookie(handler)
        if inspect.isawaitable(user):
            user = await user
        return user or self.generate_anonymous_user(handler)

    def is_token_authenticated(self, handler: object) -> bool:
        return False
