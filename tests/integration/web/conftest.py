"""A real served web app (hypercorn's trio worker on 127.0.0.1) over a real profile.

The server runs on its own trio loop in a thread, like it will inside the node; each test
that uses it stops it at teardown and checks that the thread ended.
"""

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trio

from umbra.api import Services, new_token
from umbra.cli._web_cmds import login_url, serve_web
from umbra.core import ShippingOption, parse_xmr
from umbra.core.crypto import Argon2Params, decode_public_key, encode_public_key
from umbra.market import ListingDraft, SellerCatalog, sample_image
from umbra.net import NetState
from umbra.store import Profile, create_profile, index_entry_for

T = TypeVar("T")
CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

HOSTILE_DESCRIPTION = (
    "Plain **bold** text.\n\n<script>alert('x')</script>\n\n"
    "[a link](https://evil.example/phish) and ![pic](https://evil.example/track.png)\n\n"
    "<img src=x onerror=alert(1)>\n\n"
    # Invisible and direction-changing characters: accepted in free text, never shown.
    "Send the money to \u202eelbatsurt\u202c\u200b \u2066here\u2069\ufeff please"
)


def draft(title: str, **changes: Any) -> ListingDraft:
    values: dict[str, Any] = {
        "title": title,
        "description": f"{title}, in good order.",
        "price": parse_xmr("0.5"),
        "quantity": 1,
        "category": "electronics/cameras",
        "condition": "used-good",
        "ships_from": "DE",
        "shipping": (ShippingOption(name="Post", regions=["EU"], cost=parse_xmr("0.01")),),
    }
    values.update(changes)
    return ListingDraft(**values)


@dataclass
class Served:
    base: str
    token: str
    profile: Profile
    services: Services
    other_cid: str  # a listing of another seller, synced into this profile
    own_cid: str
    trio_token: Any = None  # the server loop's, for `in_store`

    def in_store(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's store thread, serialised with the app's own calls."""
        result: T = trio.from_thread.run(self.services.run, fn, trio_token=self.trio_token)
        return result

    @property
    def login(self) -> str:
        return login_url(self.base, self.token)

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def bearer(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)

    def browser(self) -> "BrowserClient":
        """An httpx client that logged in like a browser: session cookie + CSRF token."""
        client = httpx.Client(base_url=self.base, timeout=30)
        response = client.get(f"/?token={self.token}")
        assert response.status_code == 303
        csrf = client.get("/api/v1/session").json()["csrf_token"]
        return BrowserClient(client, csrf, self.base)


@dataclass
class BrowserClient:
    http: httpx.Client
    csrf: str
    origin: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Origin": self.origin, "X-CSRF-Token": self.csrf, **extra}


# The arbiter the "other" seller's catalog lists (its default); no profile is published.
SELLER_ARBITER = encode_public_key(bytes(range(7, 39)))
# When the seeded profile "synced" the other seller's catalog (one catalog, one listing).
SEEDED_SYNC_AT = 1_900_000_000 - 500


def _seed(root: Path) -> tuple[Profile, str, str]:
    profile = create_profile(root, "web", "pw", params=CHEAP)
    catalog = SellerCatalog(profile, clock=lambda: 1_900_000_000 - 1000)
    own = catalog.create(
        draft("Vintage film camera", images=(sample_image(1, "camera"),), tags=("film",))
    )
    with create_profile(root, "other", "pw", params=CHEAP) as other:
        theirs = SellerCatalog(other).create(
            draft(
                "Hand-bound <b>notebook</b>",
                description=HOSTILE_DESCRIPTION,
                category="art/crafts",
                price=parse_xmr("0.04"),
                ships_from="FR",
                images=(sample_image(2, "notebook"),),
            )
        )
        for image in theirs.body.images:
            for cid in (image.full, image.thumb):
                data = other.blocks.get(cid)
                assert data is not None
                profile.blocks.put_verified(cid, data)
        # The other seller accepts SELLER_ARBITER; its catalog is "synced" as a sync writes it.
        SellerCatalog(other).set_arbiters([decode_public_key(SELLER_ARBITER)])
        their_catalog = SellerCatalog(other).current_catalog()
        assert their_catalog is not None
        NetState(profile)
        with profile.db.transaction():
            profile.blocks.put_verified(their_catalog.cid, their_catalog.data)
            profile.db.execute(
                "INSERT INTO net_catalogs (seller, seq, catalog_cid, head, synced_at, listings)"
                " VALUES (?, ?, ?, x'00', ?, 1)",
                (
                    their_catalog.body.seller,
                    their_catalog.body.seq,
                    str(their_catalog.cid),
                    SEEDED_SYNC_AT,
                ),
            )
    profile.blocks.put_verified(theirs.cid, theirs.data)
    profile.search.upsert(index_entry_for(theirs))
    return profile, str(own.cid), str(theirs.cid)


@contextmanager
def serve(root: Path) -> Iterator[Served]:
    """Seed a profile under ``root``, serve it on a free port, stop it on exit."""
    profile, own_cid, other_cid = _seed(root)
    services = Services.for_profile(profile)
    token = new_token()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            box["base"] = await nursery.start(
                lambda task_status: serve_web(
                    services, port=0, token=token, task_status=task_status
                )
            )
            box["cancel"] = nursery.cancel_scope.cancel
            box["trio_token"] = trio.lowlevel.current_trio_token()
            ready.set()

    def thread_main() -> None:
        try:
            trio.run(main)
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=thread_main, name="umbra-web-test", daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the web server did not start"
        if "error" in box:
            raise box["error"]
        yield Served(box["base"], token, profile, services, other_cid, own_cid, box["trio_token"])
    finally:
        if "cancel" in box:
            trio.from_thread.run_sync(box["cancel"], trio_token=box["trio_token"])
        thread.join(timeout=15)
        assert not thread.is_alive(), "the web server did not stop"
        profile.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A fresh server for a test that changes things."""
    with serve(tmp_path / "data") as server:
        yield server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server per module, for tests that must not change anything (bad input)."""
    with serve(tmp_path_factory.mktemp("shared")) as server:
        yield server


EXTERNAL_URL = re.compile(r"(?:https?:)?//(?!127\.0\.0\.1[:/]|localhost[:/])[A-Za-z0-9.-]+", re.I)
ATTR_URL = re.compile(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']([^"']*)["']""", re.I)


def external_references(text: str) -> list[str]:
    """URLs pointing away from this server: in attributes, CSS url()/@import, or bare."""
    found = []
    for value in ATTR_URL.findall(text):
        if (value and not value.startswith(("/", "#", "data:", "?"))) or value.startswith("//"):
            found.append(value)
    for value in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
        if not value.startswith(("/", "data:", "#")):
            found.append(value)
    found.extend(re.findall(r"@import\s+[^;]+", text))
    found.extend(
        m.group(0) for m in EXTERNAL_URL.finditer(text) if "evil.example" not in m.group(0)
    )
    return found


def pytest_configure(config: pytest.Config) -> None:
    # Also listed in pyproject's markers; registered here so this folder runs on its own.
    config.addinivalue_line("markers", "ui: drives Debian's Chromium with Playwright")
