"""A demo control room in central Bangkok: one dispatch centre, five stations (one run by a
hospital, one shared with a hospital, three by the centre), nineteen units, real receiving
hospitals, a care centre with patients and a login for each station's staff. Needs no
services and no data files; seeding twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from dispatch.auth import service as auth_service
from dispatch.auth.principal import Principal
from dispatch.auth.schemas import UserCreate
from dispatch.config import Settings
from dispatch.db.session import UnitOfWork
from dispatch.fleet import service as fleet
from dispatch.models import Hospital, Organisation, Patient, Station, User, Vehicle
from dispatch.models.enums import (
    Mobility,
    OrganisationKind,
    Role,
    StationType,
    VehicleKind,
    VehicleState,
)

DEMO_CENTRE = "Bangkok EMS 1669 (demo)"

#: Hospital locations: © OpenStreetMap contributors (ODbL).
HOSPITALS = [
    (
        "King Chulalongkorn Memorial Hospital",
        "โรงพยาบาลจุฬาลงกรณ์",
        13.73266,
        100.53537,
        ["trauma", "stroke", "cardiac", "paediatric", "burns"],
    ),
    ("Police General Hospital", "โรงพยาบาลตำรวจ", 13.74362, 100.53847, ["trauma", "cardiac"]),
    ("Bangkok Christian Hospital", "โรงพยาบาลกรุงเทพคริสเตียน", 13.72841, 100.53111, ["cardiac"]),
    ("Rajavithi Hospital", "โรงพยาบาลราชวิถี", 13.76628, 100.52713, ["trauma", "stroke", "burns"]),
    ("Phyathai 1 Hospital", "โรงพยาบาลพญาไท 1", 13.75627, 100.53935, ["cardiac"]),
    ("Praram 9 Hospital", "โรงพยาบาลพระราม 9", 13.75293, 100.57078, ["stroke", "cardiac"]),
]

STATIONS = [
    ("Pathumwan Station", 13.74450, 100.52950, "Rama I Rd, Pathumwan"),
    ("Silom Station", 13.72500, 100.52900, "Silom Rd, Bang Rak"),
    ("Din Daeng Station", 13.76500, 100.55300, "Din Daeng Rd, Din Daeng"),
    ("Khlong Toei Station", 13.71500, 100.56300, "Rama IV Rd, Khlong Toei"),
    ("Huai Khwang Station", 13.77300, 100.57500, "Pracha Rat Bamphen Rd, Huai Khwang"),
]

#: Who runs each station (HCMC 115's satellite types): a hospital (type 1), a hospital
#: together with the centre (type 2), or the centre itself (type 3, operator None). The
#: hospitals are demo operator organisations of their own.
STATION_OPERATORS = [
    (StationType.HOSPITAL, "King Chulalongkorn Memorial Hospital EMS (demo)"),  # Pathumwan
    (StationType.SHARED, "Bangkok Christian Hospital EMS (demo)"),  # Silom
    (StationType.CENTRE, None),  # Din Daeng
    (StationType.CENTRE, None),  # Khlong Toei
    (StationType.CENTRE, None),  # Huai Khwang
]
#: The hospital operator organisations the demo adds (beside its centre and care centre).
OPERATORS = [name for _type, name in STATION_OPERATORS if name is not None]

#: call sign, kind, seats (seated, wheelchair, stretcher), station index, state,
#: serves transports
VEHICLES = [
    ("A1", VehicleKind.ALS, (2, 0, 1), 0, VehicleState.AVAILABLE, False),
    ("A2", VehicleKind.ALS, (2, 0, 1), 1, VehicleState.AVAILABLE, False),
    ("A3", VehicleKind.ALS, (2, 0, 1), 2, VehicleState.AVAILABLE, False),
    ("A4", VehicleKind.ALS, (2, 0, 1), 0, VehicleState.OFF_DUTY, False),
    ("A5", VehicleKind.ALS, (2, 0, 1), 3, VehicleState.AVAILABLE, False),
    ("A6", VehicleKind.ALS, (2, 0, 1), 4, VehicleState.AVAILABLE, False),
    ("B1", VehicleKind.BLS, (2, 1, 1), 0, VehicleState.AVAILABLE, True),
    ("B2", VehicleKind.BLS, (2, 1, 1), 1, VehicleState.AVAILABLE, True),
    ("B3", VehicleKind.BLS, (2, 1, 1), 2, VehicleState.AVAILABLE, False),
    ("B4", VehicleKind.BLS, (2, 1, 1), 1, VehicleState.RETURNING, False),
    ("B5", VehicleKind.BLS, (2, 1, 1), 2, VehicleState.OFF_DUTY, False),
    ("B6", VehicleKind.BLS, (2, 1, 1), 0, VehicleState.AVAILABLE, False),
    ("B7", VehicleKind.BLS, (2, 1, 1), 3, VehicleState.AVAILABLE, False),
    ("B8", VehicleKind.BLS, (2, 1, 1), 3, VehicleState.AVAILABLE, False),
    ("B9", VehicleKind.BLS, (2, 1, 1), 4, VehicleState.AVAILABLE, False),
    ("B10", VehicleKind.BLS, (2, 1, 1), 4, VehicleState.AVAILABLE, False),
    ("T1", VehicleKind.TRANSPORT_VAN, (6, 2, 0), 0, VehicleState.AVAILABLE, True),
    ("T2", VehicleKind.TRANSPORT_VAN, (6, 2, 0), 1, VehicleState.AVAILABLE, True),
    ("T3", VehicleKind.TRANSPORT_VAN, (4, 1, 1), 2, VehicleState.AVAILABLE, True),
]

PATIENTS = [
    ("Somchai Rattanakul", Mobility.WHEELCHAIR, True, 13.7390, 100.5600, "Sukhumvit Soi 11"),
    ("Malee Srisuk", Mobility.AMBULATORY, False, 13.7215, 100.5420, "Lumphini, Pathumwan"),
    ("Prasert Wongsawat", Mobility.STRETCHER, True, 13.7580, 100.5480, "Ratchathewi"),
    ("Nguyen Thi Lan", Mobility.AMBULATORY, True, 13.7305, 100.5180, "Sam Yan"),
]

#: Station staff: ``station1`` answers Pathumwan Station's offers, ``station2`` Silom's, …
#: (the index into STATIONS).
STATION_LOGINS = {f"station{i + 1}": i for i in range(len(STATIONS))}

#: username, role, full name; password is "<username>-demo-1669".
LOGINS = [
    ("admin", Role.ADMIN, "Demo Administrator"),
    ("supervisor", Role.SUPERVISOR, "Demo Supervisor"),
    ("dispatcher", Role.DISPATCHER, "Demo Dispatcher"),
    ("driver", Role.DRIVER, "Demo Driver (A1)"),
    ("carecentre", Role.CARE_CENTRE, "Demo Care Centre Coordinator"),
    *(
        (username, Role.STATION, f"Demo staff, {STATIONS[i][0]}")
        for username, i in STATION_LOGINS.items()
    ),
]

#: The demo area's road map, shipped inside the package (derived from OpenStreetMap by
#: scripts/make_demo_map.py; ODbL, see data/demo/NOTICE): road ETAs and a drawn map out of
#: the box, with no ../shared beside the clone.
DEMO_MAP = Path(__file__).resolve().parent / "data" / "demo" / "bangkok-central.osm.pbf"


#: The demo's day plan has a few dozen rides on three vans: a few seconds of solving find
#: its plan, and a shorter solve lets the demo stop at once when asked to.
DEMO_PLAN_TIME_LIMIT_S = 5.0


def demo_settings(settings: Settings) -> Settings:
    """The demo's settings: the shipped road map unless a map or OSRM is configured, and
    a short plan time limit unless one is."""
    update: dict[str, object] = {}
    if settings.osm_path is None and settings.osrm_url is None:
        update["osm_path"] = DEMO_MAP
    if "plan_time_limit_s" not in settings.model_fields_set:
        update["plan_time_limit_s"] = DEMO_PLAN_TIME_LIMIT_S
    return settings.model_copy(update=update) if update else settings


@dataclass(frozen=True)
class DemoInfo:
    logins: list[tuple[str, str, str]]  # username, password, role
    device_vehicle: str
    device_token: str


def demo_password(username: str) -> str:
    return f"{username}-demo-1669"


async def seed(uow: UnitOfWork) -> DemoInfo:
    """Create the demo data if it is not there yet; always issue a fresh device token for
    unit A1 so the printed token works."""
    session = uow.session
    centre = await session.scalar(select(Organisation).where(Organisation.name == DEMO_CENTRE))
    if centre is None:
        centre = Organisation(name=DEMO_CENTRE, kind=OrganisationKind.DISPATCH_CENTRE)
        care = Organisation(name="Baan Suk Elderly Care (demo)", kind=OrganisationKind.CARE_CENTRE)
        session.add_all([centre, care])
        await session.flush()
        for name, local, lat, lon, caps in HOSPITALS:
            session.add(
                Hospital(
                    name=name,
                    name_local=local,
                    lat=lat,
                    lon=lon,
                    capabilities=caps,
                    available_er_beds=4,
                )
            )
        stations = [
            Station(organisation_id=centre.id, name=n, lat=lat, lon=lon, address=a)
            for n, lat, lon, a in STATIONS
        ]
        session.add_all(stations)
        await session.flush()
        for call_sign, kind, (seated, wheel, stretch), st, state, transports in VEHICLES:
            station = stations[st]
            session.add(
                Vehicle(
                    organisation_id=centre.id,
                    call_sign=call_sign,
                    kind=kind,
                    seats_seated=seated,
                    seats_wheelchair=wheel,
                    seats_stretcher=stretch,
                    station_id=station.id,
                    state=state,
                    serves_transports=transports,
                    last_lat=station.lat,
                    last_lon=station.lon,
                )
            )
        for name, mobility, escort, lat, lon, address in PATIENTS:
            session.add(
                Patient(
                    organisation_id=care.id,
                    full_name=name,
                    mobility=mobility,
                    needs_escort=escort,
                    home_lat=lat,
                    home_lon=lon,
                    home_address=address,
                )
            )
        await session.flush()
        a1 = await session.scalar(select(Vehicle).where(Vehicle.call_sign == "A1"))
        assert a1 is not None
        for username, role, full_name in LOGINS:
            if role == Role.STATION:
                continue  # below, with the stations' operators
            organisation = care if role == Role.CARE_CENTRE else centre
            await auth_service.create_user(
                uow,
                None,
                UserCreate(
                    username=username,
                    full_name=full_name,
                    password=demo_password(username),
                    role=role,
                    organisation_id=organisation.id,
                    vehicle_id=a1.id if role == Role.DRIVER else None,
                ),
            )
    await _seed_stations(uow, centre)
    a1 = await session.scalar(
        select(Vehicle).where(Vehicle.organisation_id == centre.id, Vehicle.call_sign == "A1")
    )
    assert a1 is not None
    seeder = Principal(role=Role.ADMIN, organisation_id=centre.id, name="demo-seed")
    _vehicle, token = await fleet.issue_device_token(uow, seeder, a1.id)
    return DemoInfo(
        logins=[(u, demo_password(u), r.value) for u, r, _ in LOGINS],
        device_vehicle="A1",
        device_token=token,
    )


async def _operator(uow: UnitOfWork, name: str) -> Organisation:
    found = await uow.session.scalar(
        select(Organisation).where(
            Organisation.name == name, Organisation.kind == OrganisationKind.HOSPITAL_OPERATOR
        )
    )
    if found is None:
        found = Organisation(name=name, kind=OrganisationKind.HOSPITAL_OPERATOR)
        uow.session.add(found)
        await uow.session.flush()
    return found


async def _seed_stations(uow: UnitOfWork, centre: Organisation) -> None:
    """Who runs each station, and its staff's login: also added to a demo database seeded
    before stations had operators (each piece only when it is missing)."""
    session = uow.session
    stations = {
        s.name: s
        for s in await session.scalars(select(Station).where(Station.organisation_id == centre.id))
    }
    for (name, *_where), (station_type, operator_name) in zip(
        STATIONS, STATION_OPERATORS, strict=True
    ):
        station = stations.get(name)
        if station is None or station.operator_id is not None:
            continue
        operator = centre if operator_name is None else await _operator(uow, operator_name)
        station.station_type, station.operator_id = station_type, operator.id
    await session.flush()
    full_names = {username: full_name for username, _role, full_name in LOGINS}
    for username, index in STATION_LOGINS.items():
        station = stations.get(STATIONS[index][0])
        taken = await session.scalar(select(User.id).where(User.username == username))
        if station is None or taken is not None:
            continue
        await auth_service.create_user(
            uow,
            None,
            UserCreate(
                username=username,
                full_name=full_names[username],
                password=demo_password(username),
                role=Role.STATION,
                organisation_id=station.operator_id or centre.id,
                station_id=station.id,
            ),
        )
