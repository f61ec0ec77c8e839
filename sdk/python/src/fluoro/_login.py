"""``fluoro.login``: store a server URL and API key for later runs."""

from __future__ import annotations

import os
import sys
from typing import Optional

from ._errors import AuthError, CommError, UsageError
from ._settings import DEFAULT_BASE_URL, config_dir, login_entry, read_login, write_login


def login(
    key: Optional[str] = None,
    host: Optional[str] = None,
    relogin: Optional[bool] = None,
    verify: bool = False,
    timeout: Optional[float] = None,
) -> bool:
    """Save an API key for ``host`` in the login file (~/.config/fluoro/login.json).

    ``host`` defaults to FLUORO_BASE_URL, then to the host last logged in
    to, then to http://127.0.0.1:8080. Without ``key``, FLUORO_API_KEY or
    an already stored key is used; on a terminal, the key is asked for.
    The server is asked which entity the key belongs to; with
    ``verify=True`` a refused or unreachable server raises. Returns True.
    """
    from ._transport import Client, HTTPTransport

    cdir = config_dir()
    stored = read_login(cdir)
    host = (host or os.environ.get("FLUORO_BASE_URL") or stored.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    entry = login_entry(stored, host)
    if key is None:
        key = os.environ.get("FLUORO_API_KEY")
    if key is None and entry.get("api_key") and not relogin:
        key = entry["api_key"]
    if key is None:
        if not sys.stdin or not sys.stdin.isatty():
            raise UsageError("fluoro.login() needs key=... (or FLUORO_API_KEY) when not run on a terminal")
        import getpass

        key = getpass.getpass("Fluoro API key for %s: " % host).strip()
    if not key:
        raise UsageError("empty API key")
    entity = None
    client = Client(host, key, HTTPTransport(host, timeout or 10.0))
    try:
        entity = (client.call("GET", "/api/v1/viewer").json() or {}).get("entity")
    except AuthError:
        if verify:
            raise
        sys.stderr.write("fluoro: WARNING: %s refused this API key; saved anyway\n" % host)
    except CommError as e:
        if verify:
            raise
        sys.stderr.write("fluoro: WARNING: could not check the key (%s); saved anyway\n" % e)
    finally:
        client.close()
    path = write_login(cdir, host, key, entity)
    sys.stderr.write("fluoro: logged in to %s%s; key saved in %s\n" % (host, " as " + entity if entity else "", path))
    return True
