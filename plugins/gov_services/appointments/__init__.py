"""Appointments for counter services (预约办理): offices' counters, hours and slots per
service as data; residents book, change and cancel; reminders the day before; check-in
with a queue number, call next, served; missed appointments. See
docs/plugins/gov_services.md, "Appointments"."""

BOOK = "gov_services.application.apply"
HANDLE_APPT = "gov_services.appointment.handle"
MANAGE_APPT = "gov_services.appointment.manage"
