"""Sites: several MediaMTX servers under one monitor (or one probe), each named.

A site is declared as ``NAME=API_URL[,METRICS_URL]`` (``--site``, repeatable; the
``TRASHMON_SITES`` variable, specs separated by spaces or newlines; or ``--sites-file``,
one spec a line, ``#`` comments). ``METRICS_URL`` is MediaMTX's ``/metrics`` or ``off``;
by default the API host on port 9998, as for the single MediaMTX.

With no site declared the monitor watches one MediaMTX (``--api``) under the site name
``""``, which is never shown: every series, field and column stays as it was. A named
site adds a ``site`` label to its series and a ``site`` field to its cameras.

Pure parsing, standard library only: the probe reads these too and must start fast.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from trashmonitor.monitor.mediamtx import metrics_url
from trashmonitor.monitor.mediamtx_http import read_text_file
from trashmonitor.settings import parse_http_url

SITE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""Like a camera id: a label value, a file name and a URL segment without escaping."""
MAX_SITES: Final = 256
SITES_FILE_MAX_BYTES: Final = 64 * 1024
METRICS_OFF: Final = ("off", "none")
DEFAULT_SITE: Final = ""
"""The site name of the one MediaMTX given by ``--api`` (never shown)."""


class Site(NamedTuple):
    name: str
    api_url: str
    metrics_url: str | None = None
    """MediaMTX /metrics; None: the default (the API host on 9998); ``""``: off."""


_USERINFO = re.compile(r"//[^/@\s]*@")


def hide_userinfo(text: str) -> str:
    """A refused value as an error may quote it: any ``user:password@`` masked."""
    return _USERINFO.sub("//***@", text)


def check_site_name(name: str) -> str:
    if not SITE_NAME.fullmatch(name):
        raise ValueError(
            "a site name is 1 to 64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    return name


def _url(text: str, what: str) -> str:
    try:
        url = parse_http_url(text)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from error
    if "@" in urlsplit(url).netloc:
        # argv and the environment are readable by others: credentials live in files.
        raise ValueError(f"{what}: no user or password in the URL (use a credentials file)")
    return url


def parse_site(spec: str) -> Site:
    """One ``NAME=API_URL[,METRICS_URL]``."""
    name, equals, urls = spec.strip().partition("=")
    if not equals:
        raise ValueError("expected NAME=API_URL[,METRICS_URL]")
    check_site_name(name)
    api, comma, metrics = urls.partition(",")
    site_metrics: str | None = None
    if comma:
        if metrics.strip().lower() in METRICS_OFF:
            site_metrics = ""
        else:
            site_metrics = metrics_url(_url(metrics, f"site {name} metrics URL"))
    return Site(name, _url(api, f"site {name} API URL"), site_metrics)


def parse_sites(text: str) -> tuple[Site, ...]:
    """Specs separated by spaces or newlines; ``#`` starts a comment to the end of its
    line. Names must be unique."""
    specs = [
        (number, spec)
        for number, line in enumerate(text.splitlines(), 1)
        for spec in line.partition("#")[0].split()
    ]
    if len(specs) > MAX_SITES:
        raise ValueError(f"at most {MAX_SITES} sites")
    several_lines = len(text.splitlines()) > 1
    sites: list[Site] = []
    for number, spec in specs:
        try:
            sites.append(parse_site(spec))
        except ValueError as error:
            raise ValueError(f"line {number}: {error}" if several_lines else str(error)) from error
    return unique(sites)


def unique(sites: list[Site]) -> tuple[Site, ...]:
    seen: set[str] = set()
    for site in sites:
        if site.name in seen:
            raise ValueError(f"site {site.name} is declared twice")
        seen.add(site.name)
    return tuple(sites)


def read_sites_file(path: str) -> tuple[Site, ...]:
    """A sites file: one spec a line, ``#`` comments; at least one site."""
    text = read_text_file(path, "sites file", SITES_FILE_MAX_BYTES)
    sites = parse_sites(text)
    if not sites:
        raise ValueError("sites file declares no site")
    return sites
