"""Demo setup of appointments: the service centre's three counters and hours, the
police desk's two, and a few counter services bookable — so the demo resident can book
and the demo worker can check them in. Idempotent (``make run`` seeds on every start)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugins.gov_services.appointments import services as ap
from plugins.gov_services.appointments.models import Counter, SlotRule

#: (service, minutes, places per counter) made bookable in the demo.
DEMO_RULES = (
    ("senior_card", 30, 2),
    ("longevity_allowance", 30, 2),
    ("home_care_subsidy", 30, 1),
    ("disability_certificate", 30, 1),
    ("residence_permit", 20, 2),
)
HOURS = {"service_centre": [("09:00", "12:00"), ("13:30", "17:00")],
         "police": [("09:00", "12:00"), ("13:00", "17:00")]}
COUNTERS = {"service_centre": ("综合受理窗口", "General counter"),
            "police": ("流动人口窗口", "Migrant desk")}


def seed(session: Session, demo: Any = None) -> None:
    from plugins.gov_services.services import gov

    if session.scalar(select(func.count()).select_from(Counter)):
        return
    g = gov()
    for office, (zh, en) in COUNTERS.items():
        if office not in g.catalogue.offices:
            continue
        for n in range(1, 4 if office == "service_centre" else 3):
            ap.set_counter(session, office, n, label_zh=f"{zh}{n}", label_en=f"{en} {n}")
        days = range(6) if office == "police" else range(5)
        for d in days:
            ap.set_hours(session, office, d, HOURS[office])
    for code, minutes, cap in DEMO_RULES:
        if g.catalogue.get(code) is None or session.scalar(
                select(SlotRule).where(SlotRule.service_code == code)):
            continue
        try:
            ap.set_rule(session, g, code, minutes=minutes, capacity=cap, days_ahead=14,
                        cutoff_hours=2, active=True)
        except ap.AppointmentError:
            continue
    session.flush()
