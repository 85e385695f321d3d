"""Bearer-token authentication and scope checks of the API, called by the access guard
(web.access) for every endpoint whose matrix rule is `token` or a list of `scope:` items.

A session cookie is never an API credential, and a token never opens a web session.
"""
from __future__ import annotations

from flask import request

from audit.canonical import SYSTEM
from web.api.accounts import authenticate_token
from web.api.calls import begin
from web.api.errors import ScopeRefused
from web.uow import unit_of_work


def authorise(scopes: frozenset[str]) -> None:
    """Accept the request's token and check it carries every scope in `scopes`, or raise."""
    with unit_of_work(SYSTEM) as uow:  # rolled back: only refusals are written
        holder = authenticate_token(uow, request.headers.get("Authorization"))
    begin(holder)
    missing = sorted(scopes - holder.scopes)
    if missing:
        raise ScopeRefused(f"this call needs the scope {missing[0]}; token {holder.token_id} carries "
                           f"{', '.join(sorted(holder.scopes))}", "Authorization")
