"""Listings through the real CLI: create, list, show, edit, delete, search, bad input."""

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.hostile_images import jpeg_with_hostile_exif

from .conftest import Runner, assert_one_line_error

SECRET_TITLE = "Zebrafinch telescope 7731"


def _photo_with_gps(path: Path) -> Path:
    image = Image.new("RGB", (1200, 900), (30, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCamMaker"  # Make
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS
    image.save(path, "JPEG", exif=exif.tobytes())
    assert b"SpyCamMaker" in path.read_bytes()
    return path


@pytest.fixture
def seller(umbra: Runner) -> Runner:
    umbra("init")
    return umbra


def _create(umbra: Runner, *extra: str) -> dict:  # type: ignore[type-arg]
    return umbra(  # type: ignore[no-any-return]
        "listing",
        "create",
        "--json",
        "--title",
        "Road bike 56cm",
        "--price",
        "0.45",
        "--category",
        "sports/cycling",
        "--ships-from",
        "DE",
        "--shipping",
        "Post:DE,AT:0.005",
        "--shipping",
        "Tracked:EU:0.01",
        "--tag",
        "bike",
        "--description",
        "Shimano 105, **new tyres**.",
        *extra,
    ).json()


def test_create_with_image_strips_all_metadata(seller: Runner, tmp_path: Path) -> None:
    photo = _photo_with_gps(tmp_path / "photo.jpg")
    created = _create(seller, "--image", str(photo))
    assert created["price"] == {"piconero": 450_000_000_000, "xmr": "0.45"}
    assert len(created["images"]) == 1
    shown = seller(
        "listing", "show", created["id"][:8], "--save-images", str(tmp_path / "out"), "--json"
    ).json()
    assert shown["cid"] == created["cid"]
    for saved in shown["saved_images"]:
        data = Path(saved).read_bytes()
        assert b"SpyCamMaker" not in data and b"Exif" not in data and b"GPS" not in data
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "WEBP"
            assert not img.info.get("exif") and not img.info.get("icc_profile")
            assert not img.getexif()


def test_nothing_is_stored_in_plaintext(seller: Runner) -> None:
    _create(seller, "--title", SECRET_TITLE)
    profile_dir = seller.data_dir / "profiles" / "default"  # type: ignore[attr-defined]
    for path in profile_dir.iterdir():
        blob = path.read_bytes()
        assert SECRET_TITLE.encode() not in blob, path
        assert b"SQLite format 3" not in blob[:16], path


def test_list_show_edit_delete_and_search(seller: Runner) -> None:
    first = _create(seller)
    listed = seller("listing", "list", "--json").json()["listings"]
    assert [item["cid"] for item in listed] == [first["cid"]]

    found = seller("search", "road", "bike", "--json").json()
    assert found["total"] == 1 and found["hits"][0]["cid"] == first["cid"]

    edited = seller(
        "listing",
        "edit",
        first["id"][:6],
        "--title",
        "Gravel bike 56cm",
        "--price",
        "0.4",
        "--json",
    ).json()
    assert edited["revision"] == 2 and edited["cid"] != first["cid"]
    assert edited["id"] == first["id"]
    assert seller("search", "road", "--json").json()["total"] == 0
    hits = seller("search", "gravel", "--json").json()["hits"]
    assert [h["cid"] for h in hits] == [edited["cid"]]
    assert hits[0]["price"]["xmr"] == "0.40"

    seller("listing", "delete", first["id"])
    assert seller("listing", "list", "--json").json()["listings"] == []
    assert seller("search", "gravel", "--json").json()["total"] == 0
    assert_one_line_error(seller("listing", "show", first["id"], check=False), "no listing")


def test_create_from_toml(seller: Runner, tmp_path: Path) -> None:
    Image.new("RGB", (300, 200), (200, 50, 50)).save(tmp_path / "mug.png")
    (tmp_path / "listing.toml").write_text(
        """
title = "Hand-thrown ceramic mug"
description = "Stoneware, 350 ml."
price = "0.018"
quantity = 4
category = "home/kitchen"
tags = ["ceramic", "handmade"]
condition = "new"
ships_from = "FR"
expires_in_days = 10
images = ["mug.png"]

[[shipping]]
name = "Colissimo"
regions = ["FR", "EU"]
cost = "0.002"
""",
        encoding="utf-8",
    )
    created = seller("listing", "create", "--from", str(tmp_path / "listing.toml"), "--json").json()
    assert created["quantity"] == 4 and created["ships_from"] == "FR"
    assert created["shipping"][0]["regions"] == ["FR", "EU"]
    assert len(created["images"]) == 1


def test_search_filters_sort_and_paging(seller: Runner) -> None:
    for title, price, category, regions in [
        ("Blue bike", "0.30", "sports/cycling", "DE"),
        ("Red bike", "0.10", "sports/cycling", "US"),
        ("Green bike", "0.20", "sports/cycling", "WW"),
        ("Bike lamp", "0.01", "electronics/components", "EU"),
    ]:
        seller(
            "listing",
            "create",
            "--title",
            title,
            "--price",
            price,
            "--category",
            category,
            "--ships-from",
            "DE",
            "--shipping",
            f"Post:{regions}:0.001",
        )
    by_price = seller("search", "bike", "--sort", "price", "--json").json()
    assert [h["title"] for h in by_price["hits"]] == [
        "Bike lamp",
        "Red bike",
        "Green bike",
        "Blue bike",
    ]
    cheap = seller("search", "bike", "--max-price", "0.2", "--json").json()
    assert {h["title"] for h in cheap["hits"]} == {"Bike lamp", "Red bike", "Green bike"}
    to_austria = seller("search", "bike", "--ships-to", "AT", "--json").json()
    assert {h["title"] for h in to_austria["hits"]} == {"Green bike", "Bike lamp"}
    cycling = seller("search", "--category", "sports", "--json").json()
    assert cycling["total"] == 3
    page2 = seller(
        "search", "bike", "--sort", "price", "--limit", "3", "--page", "2", "--json"
    ).json()
    assert page2["total"] == 4 and [h["title"] for h in page2["hits"]] == ["Blue bike"]
    weird = seller("search", 'bike" OR NEAR(* -x:', "--json").json()
    assert weird["total"] >= 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--price", "abc"], "not an amount"),
        (["--price", "-1"], "positive"),
        (["--category", "cars"], "category"),
        (["--title", "x" * 201], "title"),
        (["--ships-from", "XX"], "region"),
        (["--shipping", "no-colons"], "shipping"),
        (["--shipping", "Post:ZZ:0.1"], "region"),
        (["--expires-days", "400"], "days"),
    ],
)
def test_bad_input_is_one_clear_line(seller: Runner, args: list[str], fragment: str) -> None:
    base = {"--title": "Thing", "--price": "1", "--category": "other", "--ships-from": "DE"}
    argv = ["listing", "create"]
    overridden = set(args[::2])
    for flag, value in base.items():
        if flag not in overridden:
            argv += [flag, value]
    assert_one_line_error(seller(*argv, *args, check=False), fragment)


def test_bad_images_are_refused(seller: Runner, tmp_path: Path) -> None:
    not_image = tmp_path / "x.jpg"
    not_image.write_bytes(b"this is not a jpeg")
    base = [
        "listing",
        "create",
        "--title",
        "T",
        "--price",
        "1",
        "--category",
        "other",
        "--ships-from",
        "DE",
    ]
    assert_one_line_error(seller(*base, "--image", str(not_image), check=False), "image")
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG" + b"\x00" * (10 * 1024 * 1024 + 1))
    assert_one_line_error(seller(*base, "--image", str(huge), check=False), "10 MB")
    gif = tmp_path / "a.gif"
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    assert_one_line_error(
        seller(*base, "--image", str(gif), check=False), "image 1", "JPEG, PNG or WebP"
    )
    endless = seller(*base, "--image", "/dev/zero", check=False)  # stat says 0 bytes
    assert_one_line_error(endless, "not a regular file")
    many = [arg for i in range(11) for arg in ("--image", str(_small_png(tmp_path, i)))]
    assert_one_line_error(seller(*base, *many, check=False), "10 images")


def test_malformed_exif_is_a_normal_error_not_a_bug(seller: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(jpeg_with_hostile_exif())
    result = seller(
        "listing",
        "create",
        "--title",
        "T",
        "--price",
        "1",
        "--category",
        "other",
        "--ships-from",
        "DE",
        "--image",
        str(bad),
        check=False,
    )
    assert result.code == 1  # the normal error code; 70 means "internal error, a bug"
    assert_one_line_error(result, "image 1", "not a readable JPEG, PNG or WebP image")


def _small_png(tmp_path: Path, n: int) -> Path:
    path = tmp_path / f"s{n}.png"
    Image.new("RGB", (20, 20), (n * 20, 0, 0)).save(path)
    return path


def test_demo_creates_searchable_sample_listings(umbra: Runner, tmp_path: Path) -> None:
    out = umbra(
        "demo", "--offline", "--demo-dir", str(tmp_path / "demo"), "--listings", "6", "--json"
    ).json()
    assert out["ready"] is True and out["listings"] == 6
    again = umbra(
        "demo", "--offline", "--demo-dir", str(tmp_path / "demo"), "--listings", "6", "--json"
    ).json()
    assert again["created"] is False and again["catalog"] == out["catalog"]


def test_hidden_characters_in_a_title_are_refused(seller: Runner) -> None:
    result = seller(
        "listing", "create", "--title", "Invoice \u202egpj.exe", "--price", "1",
        "--category", "other", "--ships-from", "DE", check=False,
    )  # fmt: skip
    assert result.code == 1
    assert_one_line_error(result, "title: the character U+202E (RIGHT-TO-LEFT OVERRIDE)")


def test_free_text_is_neutralized_on_the_terminal_and_escaped_in_json(seller: Runner) -> None:
    description = "Pay \u202eelbatsurt\u202c\u200b now"
    created = _create(seller, "--title", "دراجة هوائية", "--description", description)
    shown = seller("listing", "show", created["id"][:8])
    assert "Pay elbatsurt now" in shown.stdout and "دراجة هوائية" in shown.stdout
    assert not any(ch in shown.stdout for ch in "\u202e\u202c\u200b")
    as_json = seller("listing", "show", created["id"][:8], "--json")
    assert "\\u202e" in as_json.stdout and "\u202e" not in as_json.stdout
    assert as_json.json()["description"] == description  # the data itself is unchanged
