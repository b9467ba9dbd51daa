"""Who may call each gov_services endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

Default grants (plugins/gov_services/__init__.py): residents apply; community workers read,
handle and see the thematic databases; committee members and auditors read; street review,
approval are the street officer's (and the admin's); local settings the admin's. The
matrix's accounts are not verified and have no staff scopes, so applying answers 403 and
objects are nobody's (404)."""

from core.testing_matrix import LOGIN, PUBLIC, E, ok, only

APPLIERS = only("resident", "admin")  # gov_services.application.apply
READERS = only("community_worker", "committee_member", "auditor", "admin")
HANDLERS = only("community_worker", "admin")
THEMATIC = only("community_worker", "committee_member", "auditor", "admin")
EXPORTERS = only("community_worker", "admin")
ADMIN = only("admin")
OUTREACH = only("community_worker", "admin")  # gov_services.outreach.work
APPT_DESK = only("community_worker", "admin")  # gov_services.appointment.handle

MATRIX = {
    # pages
    ("gov_services.index", "GET"): E(PUBLIC),
    ("gov_services.service", "GET"): E(PUBLIC),
    # holders of the permission who are not verified get the "verify first" page
    ("gov_services.apply", "GET"): E(APPLIERS, ok(403)),
    ("gov_services.apply", "POST"): E(APPLIERS, ok(403)),
    ("gov_services.my_list", "GET"): E(LOGIN),
    ("gov_services.application", "GET"): E(LOGIN, ok(404), denied=404),
    ("gov_services.application_receipt", "GET"): E(LOGIN, ok(404), denied=404),
    ("gov_services.notices", "GET"): E(PUBLIC),
    ("gov_services.application_action", "POST"): E(LOGIN, ok(404), denied=404),
    ("gov_services.application_rate", "POST"): E(LOGIN, ok(404), denied=404),
    # masked answers in full: the handler of the case only (nobody's case here: 404)
    ("gov_services.application_reveal", "POST"): E(HANDLERS, ok(404)),
    ("gov_services.application_upload", "POST"): E(LOGIN, ok(404), denied=404),
    ("gov_services.attachment", "GET"): E(LOGIN, ok(404), denied=404),
    ("gov_services.queue", "GET"): E(READERS),
    ("gov_services.thematic", "GET"): E(THEMATIC),
    ("gov_services.thematic_list", "GET"): E(THEMATIC),
    ("gov_services.thematic_export", "GET"): E(EXPORTERS),
    ("gov_services.membership_end", "POST"): E(HANDLERS, ok(404)),  # nobody's membership
    ("gov_services.stats", "GET"): E(READERS),
    ("gov_services.settings", "GET"): E(ADMIN),
    ("gov_services.settings", "POST"): E(ADMIN, ok(400)),  # blank form
    # API
    ("gov_services_api.Services", "GET"): E(PUBLIC),
    ("gov_services_api.ServiceItem", "GET"): E(PUBLIC),
    ("gov_services_api.Prefill", "GET"): E(APPLIERS, ok(403)),  # not verified
    ("gov_services_api.Applications", "GET"): E(READERS),
    ("gov_services_api.Applications", "POST"): E(APPLIERS, ok(422)),  # empty body
    ("gov_services_api.CounterApplications", "POST"): E(HANDLERS, ok(422)),
    ("gov_services_api.MyApplications", "GET"): E(LOGIN),
    ("gov_services_api.ApplicationItem", "GET"): E(LOGIN, ok(404), denied=404),
    ("gov_services_api.ApplicationAction", "POST"): E(LOGIN, ok(404, 422), denied=404),
    ("gov_services_api.ApplicationRating", "POST"): E(LOGIN, ok(404, 422), denied=404),
    ("gov_services_api.ApplicationReveal", "POST"): E(HANDLERS, ok(404, 422)),
    ("gov_services_api.Memberships", "GET"): E(THEMATIC),
    ("gov_services_api.MembershipEnd", "POST"): E(HANDLERS, ok(422)),
    ("gov_services_api.Groups", "GET"): E(THEMATIC),
    ("gov_services_api.Statistics", "GET"): E(READERS),
    ("gov_services_api.Settings", "PUT"): E(ADMIN, ok(422)),
    # proactive offers and the outreach list (plugins/gov_services/outreach): the matrix's
    # accounts have no places (nobody's item: 404) and no registry person (no offers)
    ("gov_services_outreach.outreach_list", "GET"): E(OUTREACH),
    ("gov_services_outreach.outreach_item", "GET"): E(OUTREACH, ok(404)),
    ("gov_services_outreach.outreach_item", "POST"): E(OUTREACH, ok(404)),
    ("gov_services_outreach.outreach_stats", "GET"): E(READERS),
    ("gov_services_outreach.offers_mine", "GET"): E(LOGIN),
    ("gov_services_outreach.offer_decline", "POST"): E(LOGIN, ok(404), denied=404),
    ("gov_services_outreach_api.OutreachItems", "GET"): E(OUTREACH),
    ("gov_services_outreach_api.OutreachItemApi", "GET"): E(OUTREACH, ok(404)),
    ("gov_services_outreach_api.OutreachOutcome", "POST"): E(OUTREACH, ok(404, 422)),
    ("gov_services_outreach_api.OutreachStatistics", "GET"): E(READERS),
    ("gov_services_outreach_api.MyOffers", "GET"): E(LOGIN),
    ("gov_services_outreach_api.OfferDecline", "POST"): E(LOGIN, ok(404), denied=404),
    # appointments (plugins/gov_services/appointments): nothing is bookable in the matrix
    # app (404), its accounts are not verified (403) and have no places (404)
    ("gov_services_appt.book", "GET"): E(APPLIERS, ok(404)),
    ("gov_services_appt.book", "POST"): E(APPLIERS, ok(404)),
    ("gov_services_appt.mine", "GET"): E(APPLIERS),
    ("gov_services_appt.change", "GET"): E(APPLIERS, ok(404)),
    ("gov_services_appt.change", "POST"): E(APPLIERS, ok(404)),
    ("gov_services_appt.cancel", "POST"): E(APPLIERS, ok(404)),
    ("gov_services_appt.desk", "GET"): E(APPT_DESK),
    ("gov_services_appt.check_in", "POST"): E(APPT_DESK, ok(404)),
    ("gov_services_appt.served", "POST"): E(APPT_DESK, ok(404)),
    ("gov_services_appt.no_show", "POST"): E(APPT_DESK, ok(404)),
    ("gov_services_appt.call_next", "POST"): E(APPT_DESK, ok(302)),  # nobody waiting
    ("gov_services_appt.manage", "GET"): E(ADMIN),
    ("gov_services_appt.manage", "POST"): E(ADMIN, ok(400)),  # no "what"
    ("gov_services_appt_api.Slots", "GET"): E(PUBLIC, ok(422)),  # no day
    ("gov_services_appt_api.Appointments", "POST"): E(APPLIERS, ok(422)),  # empty body
    ("gov_services_appt_api.Mine", "GET"): E(APPLIERS, ok(403)),  # not verified
    ("gov_services_appt_api.AppointmentItem", "GET"): E(APPLIERS, ok(403)),
    ("gov_services_appt_api.AppointmentChange", "POST"): E(APPLIERS, ok(422)),
    ("gov_services_appt_api.AppointmentCancel", "POST"): E(APPLIERS, ok(403)),
    ("gov_services_appt_api.Desk", "GET"): E(APPT_DESK, ok(422)),  # no office
    ("gov_services_appt_api.CheckIn", "POST"): E(APPT_DESK, ok(404)),
    ("gov_services_appt_api.Served", "POST"): E(APPT_DESK, ok(404)),
    ("gov_services_appt_api.NoShow", "POST"): E(APPT_DESK, ok(404)),
    ("gov_services_appt_api.CallNext", "POST"): E(APPT_DESK, ok(422)),
    ("gov_services_appt_api.OfficeItem", "GET"): E(ADMIN),
    ("gov_services_appt_api.OfficeHours", "PUT"): E(ADMIN, ok(422)),
    ("gov_services_appt_api.OfficeCounter", "PUT"): E(ADMIN, ok(422)),  # counter 999999
    ("gov_services_appt_api.Rule", "PUT"): E(ADMIN, ok(422)),
}

PUBLIC_VIEWS = {
    "gov_services.index": "the service hall: what one may apply for needs no account",
    "gov_services.service": "a service's requirements, documents and time limits",
    "gov_services.notices": "公示: a public notice is public by definition",
    "gov_services_api.Services": "the public catalogue",
    "gov_services_api.ServiceItem": "one service of the public catalogue",
    "gov_services_appt_api.Slots": "an appointment's free times: when one could come",
}

SAMPLE_VALUES: dict[str, object] = {
    "gs_service": "longevity_allowance",
    "gs_application_id": 999999,
    "gs_attachment_id": 999999,
    "gs_membership_id": 999999,
    "gs_database": "elderly_allowance",
    "gs_group": "elderly_80",
    "gs_community": "110105001001",
    "gs_item_id": 999999,
    "gs_booking_id": 999999,
    "gs_office": "service_centre",
    "gs_counter": 999999,
    "gs_weekday": 9,
}
