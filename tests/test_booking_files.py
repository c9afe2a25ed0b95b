"""A care centre's day from a spreadsheet, on both stacks: every row checked and reported
with its row and column before anything is written; the good rows booked, patients new to
the centre created once; the same file again books nothing twice; XLSX (day numbers,
shared strings) read like CSV; the day exported as CSV and understood when imported back;
hostile files refused with a 422 naming ``file``."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from tests.helpers.rides import DAY, local
from tests.helpers.world import World

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DAY_ISO = DAY.isoformat()
DAY_FIRST = DAY.strftime("%d/%m/") + str(DAY.year + 543)  # Buddhist era, day first


@pytest.fixture
async def hospital(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    body = {"name": "Chulalongkorn Hospital", "lat": 13.7326, "lon": 100.5356}
    body["name_local"] = "โรงพยาบาลจุฬาลงกรณ์"
    made = await client.post("/hospitals", json=body, headers=world.headers("admin"))
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


def table(rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()


HEADER = ["Patient", "Mobility", "Pickup lat", "Pickup lon", "Hospital", "Appointment at"]
DAY_ROWS = [
    HEADER,
    ["Patient A", "", "13.7300", "100.5500", "Chulalongkorn Hospital", f"{DAY_ISO} 09:30"],
    [
        "Somchai Jaidee",
        "wheelchair",
        "13.7400",
        "100.5600",
        "โรงพยาบาลจุฬาลงกรณ์",
        f"{DAY_FIRST} 10:15",
    ],
    [
        "Somchai Jaidee",
        "wheelchair",
        "13.7400",
        "100.5600",
        "chulalongkorn hospital",
        f"{DAY_ISO} 15:00",
    ],
    ["Malee", "", "13.7400", "100.5600", "Chulalongkorn Hospital", f"{DAY_ISO} 11:00"],
    ["Patient A", "", "13.7300", "100.5500", "Nowhere Hospital", f"{DAY_ISO} 12:00"],
    ["Patient A", "", "13.7300", "100.5500", "Chulalongkorn Hospital", "tomorrow morning"],
    ["Patient A", "", "13.7300", "100.5500", "Chulalongkorn Hospital", "2020-01-06 09:00"],
    ["Patient A", "", "13.7300", "100.5500", "Chulalongkorn Hospital", f"{DAY_ISO} 09:30"],
]


async def _import(
    client: httpx.AsyncClient, world: World, body: bytes, *, dry_run: bool, kind: str = CSV
) -> httpx.Response:
    return await client.post(
        "/bookings/import",
        params={"dry_run": str(dry_run).lower()},
        content=body,
        headers={**world.headers("care_a"), "Content-Type": kind},
    )


def errors(answer: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    return {
        r["row"]: [(e["column"], e["message"]) for e in r["errors"]]
        for r in answer["results"]
        if r["errors"]
    }


async def _counts(client: httpx.AsyncClient, world: World) -> tuple[int, int]:
    headers = world.headers("care_a")
    bookings = (await client.get("/bookings", headers=headers)).json()
    patients = (await client.get("/patients", headers=headers)).json()
    return len(bookings), len(patients)


async def test_a_dry_run_reports_every_row_and_writes_nothing(
    client: httpx.AsyncClient, world: World, hospital: dict[str, Any]
) -> None:
    before = await _counts(client, world)
    answer = await _import(client, world, table(DAY_ROWS), dry_run=True)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert (got["committed"], got["rows"], got["valid"], got["created"]) == (False, 8, 3, 0)
    found = errors(got)
    assert [c for c, _ in found[5]] == ["mobility"]  # a new patient needs their mobility
    assert found[6] == [("hospital", "No hospital is called 'Nowhere Hospital'.")]
    assert [c for c, _ in found[7]] == ["appointment_at"] and "2026-12-07 09:30" in found[7][0][1]
    assert found[8] == [("appointment_at", "The appointment is in the past.")]
    assert found[9] == [("patient", "The same ride as row 2.")]
    rows = {r["row"]: r for r in got["results"]}
    assert rows[2]["patient_id"] == world.patient_a_id and not rows[2]["new_patient"]
    assert rows[3]["new_patient"] and rows[3]["patient_id"] is None
    assert rows[3]["destination"] == "Chulalongkorn Hospital"  # found by its Thai name
    assert rows[3]["appointment_at"] == local(10, 15).isoformat()  # 2569 BE, day first
    assert await _counts(client, world) == before


async def test_the_good_rows_are_booked_once_and_the_same_file_again_books_nothing(
    client: httpx.AsyncClient, world: World, hospital: dict[str, Any]
) -> None:
    bookings, patients = await _counts(client, world)
    done = await _import(client, world, table(DAY_ROWS), dry_run=False)
    assert done.status_code == 200, done.text
    got = done.json()
    assert (got["committed"], got["created"], got["failed"]) == (True, 3, 5)
    made = [r for r in got["results"] if r["booking_id"]]
    assert [r["row"] for r in made] == [2, 3, 4]
    assert made[1]["patient_id"] == made[2]["patient_id"]  # one new patient, two rides
    assert await _counts(client, world) == (bookings + 3, patients + 1)
    ride = (
        await client.get(f"/bookings/{made[0]['booking_id']}", headers=world.headers("care_a"))
    ).json()
    assert ride["destination_hospital_id"] == hospital["id"]
    assert (ride["destination_lat"], ride["destination_lon"]) == (13.7326, 100.5356)

    again = (await _import(client, world, table(DAY_ROWS, ";"), dry_run=False)).json()
    assert again["created"] == 0 and again["duplicates"] == 4  # row 9 is row 2's ride too
    assert [r["duplicate_of"] for r in again["results"][:3]] == [r["booking_id"] for r in made]
    assert await _counts(client, world) == (bookings + 3, patients + 1)


def xlsx(rows: list[list[str | float]]) -> bytes:
    """A minimal workbook as Excel writes it: text in shared strings, times as day numbers."""
    strings: list[str] = []
    cells = []
    for r, row in enumerate(rows, start=1):
        out = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if isinstance(value, float):
                out.append(f'<c r="{ref}" s="1"><v>{value}</v></c>')
            else:
                strings.append(value)
                out.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        cells.append(f'<row r="{r}">{"".join(out)}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr(
            "xl/workbook.xml",
            f'<workbook {ns} {rel}><sheets><sheet name="Day" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>",
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/day.xml" Type="worksheet"/>'
            "</Relationships>",
        )
        book.writestr(
            "xl/worksheets/day.xml",
            f"<worksheet {ns}><sheetData>{''.join(cells)}</sheetData></worksheet>",
        )
        sst = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
        book.writestr("xl/sharedStrings.xml", f"<sst {ns}>{sst}</sst>")
    return buffer.getvalue()


async def test_an_xlsx_day_is_read_like_a_csv(
    client: httpx.AsyncClient, world: World, hospital: dict[str, Any]
) -> None:
    serial = (DAY - DAY.replace(year=1899, month=12, day=30)).days + 9.5 / 24  # 09:30
    rows: list[list[str | float]] = [
        ["patient", "pickup_lat", "pickup_lon", "hospital", "appointment_at"],
        ["Patient A", "13.73", "100.55", "Chulalongkorn Hospital", serial],
    ]
    got = (await _import(client, world, xlsx(rows), dry_run=False, kind=XLSX)).json()
    assert got["created"] == 1, got
    assert got["results"][0]["appointment_at"] == local(9, 30).isoformat()


async def test_the_day_exported_is_understood_when_imported_back(
    client: httpx.AsyncClient, world: World, hospital: dict[str, Any]
) -> None:
    await _import(client, world, table(DAY_ROWS), dry_run=False)
    export = await client.get(
        "/bookings/export", params={"service_date": DAY_ISO}, headers=world.headers("care_a")
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith("\ufeff".encode())  # Excel reads Thai right
    lines = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [(r["patient"], r["appointment_at"]) for r in lines] == [
        ("Patient A", f"{DAY_ISO} 09:30"),
        ("Somchai Jaidee", f"{DAY_ISO} 10:15"),
        ("Somchai Jaidee", f"{DAY_ISO} 15:00"),
    ]
    assert lines[1]["hospital"] == "Chulalongkorn Hospital" and lines[1]["mobility"] == "wheelchair"
    back = (await _import(client, world, export.content, dry_run=False)).json()
    assert (back["created"], back["duplicates"], back["failed"]) == (0, 3, 0)
    assert "booking_id" in back["ignored_columns"] and "vehicle" in back["ignored_columns"]
    other = await client.get(
        "/bookings/export", params={"service_date": DAY_ISO}, headers=world.headers("care_b")
    )
    assert len(list(csv.reader(io.StringIO(other.content.decode("utf-8-sig"))))) == 1  # header


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (b"", CSV, "The file is empty."),
        (b"   \r\n", CSV, "The file is empty."),
        (b"PK\x03\x04 not really a zip", XLSX, "The file is not a readable XLSX workbook."),
        (b"\x81\x8d\xff\xfe\x00", CSV, "neither UTF-8 nor Thai"),
        (b"x" * 5_000_001, CSV, "The file is larger than 5 MB."),
        (b"patient\n" + b"Somchai\n" * 2_001, CSV, "more than 2000 rows"),
    ],
)
async def test_a_file_that_cannot_be_read_is_a_422_naming_the_file(
    client: httpx.AsyncClient, world: World, body: bytes, kind: str, message: str
) -> None:
    answer = await _import(client, world, body, dry_run=True, kind=kind)
    assert answer.status_code == 422, answer.text
    [detail] = answer.json()["detail"]
    assert detail["loc"][-1] == "file" and message in detail["msg"]


async def test_a_header_alone_books_nothing(client: httpx.AsyncClient, world: World) -> None:
    answer = await _import(client, world, b"patient,hospital\r\n", dry_run=False)
    assert answer.status_code == 200 and answer.json()["rows"] == 0


async def test_an_xlsx_with_a_document_type_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w") as book:
        book.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol">]><workbook>&lol;</workbook>',
        )
    answer = await _import(client, world, bomb.getvalue(), dry_run=True, kind=XLSX)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == "file"


async def test_a_centre_imports_only_into_its_own_patients(
    client: httpx.AsyncClient, world: World, hospital: dict[str, Any]
) -> None:
    rows = [["patient_id", "pickup_lat", "pickup_lon", "hospital", "appointment_at"]]
    rows.append(
        [str(world.patient_b_id), "13.73", "100.55", "Chulalongkorn Hospital", f"{DAY_ISO} 09:00"]
    )
    got = (await _import(client, world, table(rows), dry_run=False)).json()
    assert got["created"] == 0
    assert errors(got) == {2: [("patient_id", f"The centre has no patient {world.patient_b_id}.")]}
