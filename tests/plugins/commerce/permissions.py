"""Who may call each commerce endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

Default grants (plugins/commerce/__init__.py): residents file tickets; hotline operators
read, dispatch and see statistics; community workers read, regulate merchants and see
statistics; merchants work the portal and apply; auditors read and see statistics;
admins hold everything. The matrix's accounts are bound to no registry person and no
merchant, so object pages answer 404 and the one-key call is refused (302 / 409)."""

from core.testing_matrix import LOGIN, PUBLIC, E, ok, only

FILE = only("resident", "admin")
READ = only("hotline_operator", "community_worker", "auditor", "admin")
DISPATCH = only("hotline_operator", "admin")
VET = only("community_worker", "admin")
PORTAL = only("merchant", "admin")
APPLY = only("merchant", "admin")
STATS = only("hotline_operator", "community_worker", "auditor", "admin")

MATRIX = {
    # ------------------------------------------------------------------ pages
    ("commerce.index", "GET"): E(PUBLIC),
    ("commerce.directory", "GET"): E(PUBLIC),
    ("commerce.merchant_public", "GET"): E(PUBLIC, ok(404)),
    ("commerce.my_tickets", "GET"): E(FILE),
    ("commerce.new_ticket", "GET"): E(FILE),
    ("commerce.new_ticket", "POST"): E(FILE, ok(200)),  # unverified: "verify first"
    ("commerce.one_key", "POST"): E(FILE, ok(302)),  # unverified: back with a message
    ("commerce.my_ticket", "GET"): E(FILE, ok(404)),
    ("commerce.my_confirm", "POST"): E(FILE, ok(404)),
    ("commerce.my_rate", "POST"): E(FILE, ok(404)),
    ("commerce.my_complain", "POST"): E(FILE, ok(404)),
    ("commerce.console", "GET"): E(DISPATCH),
    ("commerce.console", "POST"): E(DISPATCH, ok(400)),  # no number typed
    ("commerce.queue", "GET"): E(READ),
    ("commerce.ticket", "GET"): E(READ, ok(404)),
    ("commerce.ticket_callback", "POST"): E(DISPATCH, ok(404)),
    ("commerce.ticket_dispatch", "POST"): E(DISPATCH, ok(404)),
    ("commerce.ticket_followup", "POST"): E(DISPATCH, ok(404)),
    ("commerce.ticket_cancel", "POST"): E(DISPATCH, ok(404)),
    ("commerce.portal", "GET"): E(PORTAL),
    ("commerce.portal_ticket", "GET"): E(PORTAL, ok(404)),
    ("commerce.portal_ticket", "POST"): E(PORTAL, ok(404)),
    ("commerce.apply", "GET"): E(APPLY),
    ("commerce.apply", "POST"): E(APPLY, ok(400)),  # blank form
    ("commerce.reg_merchants", "GET"): E(VET),
    ("commerce.reg_merchant", "GET"): E(VET, ok(404)),
    ("commerce.reg_merchant", "POST"): E(VET, ok(404)),
    ("commerce.complaints", "GET"): E(VET),
    ("commerce.complaint", "GET"): E(VET, ok(404)),
    ("commerce.complaint", "POST"): E(VET, ok(404)),
    ("commerce.stats", "GET"): E(STATS),
    # ------------------------------------------------------------------ API
    ("commerce_api.Merchants", "GET"): E(PUBLIC),
    ("commerce_api.MerchantItem", "GET"): E(PUBLIC, ok(404)),
    ("commerce_api.MerchantApplications", "POST"): E(APPLY, ok(422)),
    ("commerce_api.MerchantDecision", "POST"): E(VET, ok(422)),
    ("commerce_api.Tickets", "GET"): E(READ),
    ("commerce_api.Tickets", "POST"): E(FILE, ok(422)),
    ("commerce_api.HotlineTickets", "POST"): E(DISPATCH, ok(422)),
    ("commerce_api.OneKey", "POST"): E(FILE, ok(409)),  # not bound to a registry person
    ("commerce_api.MyTickets", "GET"): E(FILE),
    ("commerce_api.TicketItem", "GET"): E(LOGIN, ok(404)),
    ("commerce_api.TicketDispatch", "POST"): E(DISPATCH, ok(404)),
    ("commerce_api.TicketConfirm", "POST"): E(FILE, ok(404)),
    ("commerce_api.TicketRating", "POST"): E(LOGIN, ok(422)),
    ("commerce_api.TicketComplaints", "POST"): E(FILE, ok(422)),
    ("commerce_api.Redispatch", "POST"): E(DISPATCH),
    ("commerce_api.PortalTickets", "GET"): E(PORTAL),
    ("commerce_api.PortalTicketItem", "GET"): E(PORTAL, ok(404)),
    ("commerce_api.PortalAccept", "POST"): E(PORTAL, ok(404)),
    ("commerce_api.PortalDecline", "POST"): E(PORTAL, ok(404)),
    ("commerce_api.PortalStart", "POST"): E(PORTAL, ok(404)),
    ("commerce_api.PortalComplete", "POST"): E(PORTAL, ok(422)),
    ("commerce_api.Complaints", "GET"): E(VET),
    ("commerce_api.ComplaintDecision", "POST"): E(VET, ok(422)),
    ("commerce_api.Stats", "GET"): E(STATS),
}

PUBLIC_VIEWS = {
    "commerce.index": "the hotline's public start page",
    "commerce.directory": "the public directory of vetted merchants",
    "commerce.merchant_public": "an approved merchant's public scorecard",
    "commerce_api.Merchants": "the public directory of vetted merchants (API)",
    "commerce_api.MerchantItem": "an approved merchant's public scorecard (API)",
}

SAMPLE_VALUES: dict[str, object] = {
    "ticket_id": 999999,
    "merchant_id": 999999,
    "complaint_id": 999999,
}
