"""commerce: tickets refer to registry persons; callers' own copies are governed

Revision ID: 1f27024345a7
Revises: b77b94ee9d9c
Create Date: 2026-12-02 09:00:00.000000

Tickets used to copy the caller's name, phone and room-level address
(``contact_name``, ``contact_phone``, ``service_address``) and show them to anyone who
could read tickets. Now a ticket keeps its ``person_id`` and reads those through the scoped
reader; only what the registry does not hold stays, as the caller's own copy
(``caller_name``, ``caller_phone``, ``caller_address``), governed and erased after the
retention period counted from ``closed_at``.

Existing rows:

* a ticket without a person whose phone is exactly one registry person's is linked to
  that person;
* for a registry person, the copied name is dropped, and the phone and the address are
  dropped where they equal the registry's (the number normalised, the address as the
  dwelling's full address); anything else is kept as the caller's copy;
* a ticket of nobody in the registry keeps name, phone and address as the caller's copy;
* ``closed_at`` is the completion time of done work, the cancellation time (its timeline
  entry) of a cancelled ticket;
* the resident's own name is removed from the timeline entries of their own acts.

Downgrade restores the three columns from the caller's copies (the registry's values are
not copied back).
"""
from alembic import op
import sqlalchemy as sa
import core.toolkit


revision = '1f27024345a7'
down_revision = 'b77b94ee9d9c'
branch_labels = None
depends_on = None


def _digits(value):
    d = "".join(ch for ch in (value or "") if ch.isdigit())
    if len(d) == 13 and d.startswith("86"):
        d = d[2:]
    elif len(d) == 15 and d.startswith("0086"):
        d = d[4:]
    return d


def upgrade() -> None:
    # Plain ALTER TABLE, never batch mode: on SQLite a batch "move and copy" drops the
    # old table, and with foreign keys on that cascades to every row that refers to a
    # ticket (timeline, offers, complaints). SQLite has had ADD/DROP COLUMN since 3.35.
    op.add_column('commerce_ticket', sa.Column('caller_name', sa.String(length=50), nullable=False, server_default=''))
    op.add_column('commerce_ticket', sa.Column('caller_phone', sa.String(length=30), nullable=False, server_default=''))
    op.add_column('commerce_ticket', sa.Column('caller_address', sa.String(length=300), nullable=False, server_default=''))
    op.add_column('commerce_ticket', sa.Column('caller_erased_at', core.toolkit.UTCDateTime(timezone=True), nullable=True))
    op.add_column('commerce_ticket', sa.Column('closed_at', core.toolkit.UTCDateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_commerce_ticket_closed_at'), 'commerce_ticket', ['closed_at'], unique=False)

    conn = op.get_bind()
    tickets = conn.execute(sa.text(
        "SELECT id, person_id, contact_name, contact_phone, service_address "
        "FROM commerce_ticket"
    )).mappings().all()
    persons = {}
    by_phone = {}
    if tickets:
        for pid, phone, addr in conn.execute(sa.text(
            "SELECT p.id, p.phone, d.address FROM registry_person p "
            "LEFT JOIN registry_dwelling d ON d.id = p.dwelling_id"
        )):
            persons[pid] = (_digits(phone), addr or "")
            if _digits(phone):
                by_phone.setdefault(_digits(phone), []).append(pid)
    for t in tickets:
        pid = t["person_id"]
        phone, address, name = t["contact_phone"] or "", t["service_address"] or "", t["contact_name"] or ""
        if pid is None and _digits(phone) and len(by_phone.get(_digits(phone), [])) == 1:
            pid = by_phone[_digits(phone)][0]
        if pid is not None and pid in persons:
            reg_phone, reg_address = persons[pid]
            name = ""
            if _digits(phone) == reg_phone:
                phone = ""
            if address.strip() == reg_address.strip():
                address = ""
        conn.execute(
            sa.text(
                "UPDATE commerce_ticket SET person_id = :pid, caller_name = :n, caller_phone = :p, "
                "caller_address = :a WHERE id = :id"
            ),
            {"pid": pid, "n": name[:50], "p": phone[:30], "a": address[:300], "id": t["id"]},
        )
    conn.execute(sa.text(
        "UPDATE commerce_ticket SET closed_at = COALESCE(completed_at, created_at) "
        "WHERE state IN ('completed', 'confirmed', 'rated')"
    ))
    conn.execute(sa.text(
        "UPDATE commerce_ticket SET closed_at = COALESCE((SELECT MAX(e.at) FROM "
        "commerce_ticket_event e WHERE e.ticket_id = commerce_ticket.id "
        "AND e.kind = 'cancelled'), created_at) WHERE state = 'cancelled'"
    ))
    # the resident's own acts on their own ticket: no name in the timeline
    conn.execute(sa.text(
        "UPDATE commerce_ticket_event SET actor_name = '' WHERE actor_id IN ("
        "SELECT u.id FROM identity_user u JOIN commerce_ticket t ON t.person_id = u.person_id "
        "WHERE t.id = commerce_ticket_event.ticket_id)"
    ))

    for column in ('service_address', 'contact_phone', 'contact_name'):
        op.drop_column('commerce_ticket', column)


def downgrade() -> None:
    op.add_column('commerce_ticket', sa.Column('contact_name', sa.String(length=50), nullable=False, server_default=''))
    op.add_column('commerce_ticket', sa.Column('contact_phone', sa.String(length=30), nullable=False, server_default=''))
    op.add_column('commerce_ticket', sa.Column('service_address', sa.String(length=300), nullable=False, server_default=''))
    op.execute(
        "UPDATE commerce_ticket SET contact_name = caller_name, contact_phone = caller_phone, "
        "service_address = caller_address"
    )
    op.drop_index(op.f('ix_commerce_ticket_closed_at'), table_name='commerce_ticket')
    for column in ('closed_at', 'caller_erased_at', 'caller_address', 'caller_phone', 'caller_name'):
        op.drop_column('commerce_ticket', column)
