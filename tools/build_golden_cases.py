"""A development tool, not part of the package: builds the shipped golden dataset,
agents/validation/data/golden_cases.jsonl (package data), deterministically (every random choice is
seeded by the case's key). Regenerate and review the diff:  python tools/build_golden_cases.py

Six domains, six topics each, four variants per topic (other names, figures, dates and phrasings):
- easy: one fact, in the first or second retrieved passage;
- medium: two facts in different sentences of one passage (an app keeping one sentence per passage
  misses one);
- hard: two facts in two passages, the second ranked third or fourth (an app reading two passages
  misses it).
Facts carry numbers with units, dates in three formats, quoted UI labels and names; a few support
passages carry contact details an answer must not repeat. The organisations, medicines and laws are
fictional.
"""

import argparse
import json
import random
import re
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "agents" / "validation" / "data" / "golden_cases.jsonl"
DIFFICULTIES = ("easy", "medium", "easy", "hard")


def fmt_date(day: date, style: str) -> str:
    if style == "iso":
        return day.isoformat()
    if style == "mdy":
        return f"{day:%B} {day.day}, {day.year}"
    return f"{day.day} {day:%B} {day.year}"


def money(amount: float, symbol: str = "$") -> str:
    return f"{symbol}{amount:,.2f}" if amount % 1 else f"{symbol}{amount:,.0f}"


def some_date(r: random.Random, year: int = 2025) -> date:
    return date(year, 1, 1) + timedelta(days=r.randrange(0, 360))


def topic(domain: str, name: str, entities: list):
    """Registers a topic; its builder gets (rng, entity, other entity) and returns the case's material."""

    def register(build):
        TOPICS.append((domain, name, entities, build))
        return build

    return register


TOPICS: list = []


# --- billing ---------------------------------------------------------------------------------------
@topic("billing", "plan-price", ["Starter", "Pro", "Team", "Business", "Growth"])
def plan_price(r, plan, other):
    price, other_price = r.sample([19, 29, 49, 79, 99, 149], 2)
    disc, other_disc = r.sample([10, 15, 17, 20], 2)
    return {
        "q1": r.choice(
            [
                f"How much does the {plan} plan cost per month?",
                f"What is the monthly price of the {plan} plan?",
            ]
        ),
        "q2": f"What does the {plan} plan cost monthly, and how much do I save on the {plan} plan by paying "
        "annually?",
        "a_id": f"billing/pricing-{plan.lower()}",
        "f1": (
            f"The {plan} plan costs ${price} per user per month when billed monthly.",
            f"{plan} plan costs ${price} per user per month",
        ),
        "f2": (
            f"Paying annually for the {plan} plan saves {disc}% compared with monthly billing.",
            f"annual {plan} plan saves {disc}%",
        ),
        "fill_a": [
            "Prices exclude sales tax and VAT.",
            "Seats can be added or removed from the Billing page.",
        ],
        "b_id": "billing/annual-billing",
        "fill_b": ["Annual invoices are issued on the anniversary of the first payment."],
        "distractors": [
            (
                f"billing/pricing-{other.lower()}",
                f"The {other} plan costs ${other_price} per user per month. Annual billing for the "
                f"{other} plan saves {other_disc}%.",
            ),
            ("billing/enterprise", "Enterprise pricing is quoted individually by the sales team."),
        ],
    }


@topic("billing", "refund-window", ["monthly", "annual", "quarterly", "two-year"])
def refund_window(r, period, other):
    days, other_days = r.sample([14, 30, 45, 60], 2)
    business = r.choice([5, 7, 10])
    return {
        "q1": f"How long do I have to request a refund on a {period} subscription?",
        "q2": f"What is the refund window for {period} subscriptions, and how fast is a refund paid back?",
        "a_id": f"billing/refunds-{period}",
        "f1": (
            f"Refunds for {period} subscriptions are available within {days} days of the charge.",
            f"{period} subscription refunds within {days} days",
        ),
        "f2": (
            f"An approved refund is paid back to the original payment method within {business} business "
            "days.",
            f"refund paid back to original payment method within {business} business days",
        ),
        "fill_a": ["Requests are made from the Invoices tab of the workspace settings."],
        "b_id": "billing/payment-processing",
        "fill_b": ["Card networks sometimes show the credit as a pending transaction first."],
        "distractors": [
            (
                f"billing/refunds-{other}",
                f"Refunds for {other} subscriptions are available within {other_days} days of the charge.",
            ),
            ("billing/usage", "Usage-based charges such as overage fees are not refundable."),
        ],
    }


@topic("billing", "invoice-due", ["Northwind Traders", "Blue Harbor Ltd", "Kestrel Labs", "Oakridge Foods"])
def invoice_due(r, customer, other):
    issued = some_date(r)
    due = issued + timedelta(days=r.choice([15, 30, 45]))
    amount = r.choice([1284.5, 3920, 612.75, 12400, 845])
    number = f"INV-{issued.year}-{r.randrange(100, 999):04d}"
    style = r.choice(["iso", "mdy", "dmy"])
    fee = r.choice([1.5, 2, 2.5])
    return {
        "q1": f"When is invoice {number} for {customer} due?",
        "q2": f"When is invoice {number} for {customer} due and what is the late fee on invoice {number}?",
        "a_id": f"billing/invoices/{number}",
        "f1": (
            f"Invoice {number} for {customer} was issued on {fmt_date(issued, style)} and is due on "
            f"{fmt_date(due, style)} for {money(amount)}.",
            f"invoice {number} due {fmt_date(due, r.choice(['iso', 'mdy', 'dmy']))}",
        ),
        "f2": (
            f"A late fee of {fee}% of the outstanding balance is added to invoice {number} each month after "
            "the due date.",
            f"late fee {fee}% of outstanding balance",
        ),
        "fill_a": ["Payment can be made by bank transfer or card."],
        "b_id": "billing/late-payments",
        "fill_b": ["Reminders are emailed three days before the due date."],
        "distractors": [
            (
                f"billing/customers/{other.lower().replace(' ', '-')}",
                f"{other} pays its invoices by direct debit on the first business day of the month.",
            ),
            ("billing/invoice-format", "Each invoice lists the billing period, seats and taxes separately."),
        ],
    }


@topic(
    "billing", "vat", [("Germany", 19), ("France", 20), ("Ireland", 23), ("Netherlands", 21), ("Spain", 21)]
)
def vat(r, country, other):
    (name, rate), (other_name, other_rate) = country, other
    return {
        "q1": f"What VAT rate applies to customers in {name}?",
        "q2": f"What VAT rate is charged in {name}, and how are businesses with a VAT ID invoiced?",
        "a_id": f"billing/tax/{name.lower()}",
        "f1": (f"Customers in {name} are charged VAT at {rate}%.", f"{name} VAT {rate}%"),
        "f2": (
            "Businesses with a valid VAT ID are invoiced under the reverse-charge mechanism and pay no VAT "
            "to us.",
            "businesses with valid VAT ID invoiced under reverse-charge mechanism",
        ),
        "fill_a": ["Tax is calculated from the billing address on file."],
        "b_id": "billing/tax/b2b",
        "fill_b": ["The VAT ID is checked against the VIES registry when it is saved."],
        "distractors": [
            (
                f"billing/tax/{other_name.lower()}",
                f"Customers in {other_name} are charged VAT at {other_rate}%.",
            ),
            ("billing/tax/us", "US customers are charged sales tax where we have nexus."),
        ],
    }


@topic("billing", "payment-retry", ["card", "SEPA direct debit", "ACH debit", "PayPal"])
def payment_retry(r, method, other):
    tries, days = r.choice([3, 4]), r.choice([7, 10, 14])
    return {
        "q1": f"How often is a failed {method} payment retried?",
        "q2": f"How often is a failed {method} payment retried, and what happens to the workspace after "
        "the final retry?",
        "a_id": f"billing/dunning-{method.split()[0].lower()}",
        "f1": (
            f"A failed {method} payment is retried {tries} times over {days} days.",
            f"failed {method} payment retried {tries} times over {days} days",
        ),
        "f2": (
            "After the final retry fails, the workspace is switched to read-only mode until the balance is "
            "paid.",
            "after final retry workspace switched to read-only mode",
        ),
        "fill_a": ["The billing contact receives an email about each attempt."],
        "b_id": "billing/suspension",
        "fill_b": ["Data is never deleted because of a missed payment."],
        "distractors": [
            (
                f"billing/methods-{other.split()[0].lower()}",
                f"{other} payments are collected on the renewal date.",
            ),
            ("billing/methods", "Supported methods are card, SEPA direct debit, ACH debit and PayPal."),
        ],
    }


@topic("billing", "free-trial", ["Analytics", "CRM", "Helpdesk", "Forms"])
def free_trial(r, product, other):
    days, seats = r.choice([7, 14, 21, 30]), r.choice([3, 5])
    return {
        "q1": f"How long is the free trial of {product}?",
        "q2": f"How long is the {product} free trial and what happens when the trial ends?",
        "a_id": f"billing/trials/{product.lower()}",
        "f1": (
            f"The {product} free trial lasts {days} days and does not require a credit card.",
            f"{product} free trial lasts {days} days",
        ),
        "f2": (
            f"When the trial ends, the workspace moves to the Free plan with {seats} seats.",
            f"trial ends workspace moves to Free plan with {seats} seats",
        ),
        "fill_a": ["Trial workspaces have every feature of the Business plan."],
        "b_id": "billing/free-plan",
        "fill_b": ["The Free plan keeps all existing data."],
        "distractors": [
            (f"billing/trials/{other.lower()}", f"The {other} trial can be extended once by the sales team."),
            ("billing/discounts", "Nonprofits and schools get a discount on every paid plan."),
        ],
    }


# --- support ---------------------------------------------------------------------------------------
@topic("support", "password-reset", ["web app", "mobile app", "admin console", "partner portal"])
def password_reset(r, surface, other):
    minutes, attempts, lock = r.choice([15, 30, 60]), r.choice([5, 10]), r.choice([15, 30])
    return {
        "q1": f"How long is a password reset link for the {surface} valid?",
        "q2": f"How long is a {surface} password reset link valid, and when does the {surface} lock an "
        "account after failed sign-ins?",
        "a_id": f"support/password-{surface.split()[0]}",
        "f1": (
            f"Password reset links for the {surface} expire after {minutes} minutes.",
            f"{surface} password reset links expire after {minutes} minutes",
        ),
        "f2": (
            f"After {attempts} failed sign-in attempts the {surface} locks the account for {lock} minutes.",
            f"{attempts} failed sign-in attempts lock account for {lock} minutes",
        ),
        "fill_a": ["Only the most recent link works."],
        "b_id": "support/account-lockout",
        "fill_b": ["Administrators can unlock accounts sooner."],
        "distractors": [
            (
                f"support/password-{other.split()[0]}",
                f"The {other} uses single sign-on through your company.",
            ),
            ("support/passwords", "Passwords need at least one number and one symbol."),
        ],
    }


@topic("support", "response-time", ["Priority 1", "Premium", "Standard", "Community"])
def response_time(r, tier, other):
    hours, other_hours = r.sample([1, 4, 8, 24, 48], 2)
    return {
        "q1": f"How quickly does support answer {tier} tickets?",
        "q2": f"How quickly are {tier} tickets answered, and when is an incident report published?",
        "a_id": f"support/sla-{tier.lower().replace(' ', '-')}",
        "f1": (
            f"Support answers {tier} tickets within {hours} hours, around the clock.",
            f"{tier} tickets answered within {hours} hours",
        ),
        "f2": (
            f"An incident report is published within {r.choice([2, 3, 5])} business days of the resolution.",
            None,
        ),
        "fill_a": ["Response times are measured from the moment the ticket is created."],
        "b_id": "support/incidents",
        "fill_b": ["Reports include the timeline and follow-up actions."],
        "distractors": [
            (
                f"support/sla-{other.lower().replace(' ', '-')}",
                f"Support answers {other} tickets within {other_hours} hours on business days.",
            ),
            ("support/channels", "Tickets can be opened by email, chat or the help centre."),
        ],
    }


@topic(
    "support",
    "escalation",
    [
        ("Dana Whitfield", "dana.whitfield@example.com", "+1 415 555 0134"),
        ("Tomasz Nowak", "t.nowak@example.org", "+48 22 555 0187"),
        ("Priya Raman", "priya.raman@example.net", "+44 20 7946 0321"),
        ("Lucas Moreau", "lucas.moreau@example.com", "+33 1 5555 0149"),
    ],
)
def escalation(r, lead, other):
    (name, email, phone), product = lead, r.choice(["payments", "login", "API", "sync"])
    hours = r.choice([4, 12, 24])
    return {
        "q1": f"Who handles escalations for {product} outages?",
        "q2": f"Who handles escalations for {product} outages, and when is the outage post-mortem shared?",
        "a_id": f"support/escalation-{product.lower()}",
        "f1": (
            f"Escalations for {product} outages go to the on-call lead, {name} ({email}, {phone}).",
            f"escalations for {product} outages go to on-call lead {name}",
        ),
        "f2": (
            f"The outage post-mortem is shared with affected customers within {hours} hours.",
            f"outage post-mortem shared within {hours} hours",
        ),
        "fill_a": ["The rota changes every Monday."],
        "b_id": "support/post-mortems",
        "fill_b": ["Post-mortems are blameless."],
        "distractors": [
            ("support/rota", f"{other[0]} covers the weekend rota for non-urgent tickets."),
            ("support/status-page", "The status page is updated every 30 minutes during an incident."),
        ],
    }


@topic("support", "account-deletion", ["personal", "team", "education", "trial"])
def account_deletion(r, kind, other):
    days, purge = r.choice([14, 30, 90]), r.choice([35, 60, 120])
    return {
        "q1": f"Can a deleted {kind} account be restored?",
        "q2": f"For how long can a deleted {kind} account be restored, and when are backups of the account "
        "purged?",
        "a_id": f"support/deletion-{kind}",
        "f1": (
            f"Deleted {kind} accounts can be restored for {days} days; after that all data is erased.",
            f"deleted {kind} accounts restored for {days} days",
        ),
        "f2": (
            f"Backups containing the account are purged within {purge} days of erasure.",
            f"backups purged within {purge} days of erasure",
        ),
        "fill_a": ["Only the account owner can start a deletion."],
        "b_id": "support/backups",
        "fill_b": ["Backups are encrypted at rest."],
        "distractors": [
            (f"support/deletion-{other}", f"{other.title()} accounts are deleted by their administrator."),
            ("support/privacy", "Our privacy policy explains which data we keep."),
        ],
    }


@topic("support", "data-export", ["workspace", "project", "mailbox", "report"])
def data_export(r, thing, other):
    hours = r.choice([24, 48, 72])
    label = f"Settings → Data → Export {thing}"
    return {
        "q1": f"Where do I start an export of a {thing}?",
        "q2": f"Where do I start a {thing} export, and how long does the {thing} export download link last?",
        "a_id": f"support/export-{thing}",
        "f1": (
            f'A {thing} export is started from "{label}".',
            f'{thing} export started from "{label}"',
        ),
        "f2": (
            f"The {thing} export download link is valid for {hours} hours.",
            f"export download link valid for {hours} hours",
        ),
        "fill_a": ["Exports are delivered as a ZIP archive of CSV files."],
        "b_id": "support/export-links",
        "fill_b": ["A new link can be requested at any time."],
        "distractors": [
            (f"support/export-{other}", f"{other.title()} exports include attachments."),
            ("support/import", "Imports accept CSV files up to 50 MB."),
        ],
    }


@topic("support", "returns", [("Rotterdam", "EU"), ("Leeds", "UK"), ("Columbus", "US"), ("Osaka", "Japan")])
def returns(r, site, other):
    (city, region), ship = site, r.choice([1, 2, 3])
    days = r.choice([14, 28, 30, 60])
    return {
        "q1": f"How many days do {region} customers have to return an item?",
        "q2": f"How many days do {region} customers have to return an item, and where do {region} orders "
        "ship from?",
        "a_id": f"support/returns-{region.lower()}",
        "f1": (
            f"{region} customers can return unused items within {days} days of delivery for a full refund.",
            f"{region} customers return unused items within {days} days",
        ),
        "f2": (
            f"{region} orders ship from our {city} warehouse within {ship} business days.",
            f"{region} orders ship from {city} warehouse",
        ),
        "fill_a": ["Return labels are free."],
        "b_id": "support/shipping",
        "fill_b": ["Tracking numbers are emailed when the parcel leaves."],
        "distractors": [
            (f"support/returns-{other[1].lower()}", f"{other[1]} orders ship from {other[0]}."),
            ("support/gift-cards", "Gift cards cannot be returned."),
        ],
    }


# --- medical (fictional medicines and clinics; not medical advice) --------------------------------
@topic("medical", "dosage", [("Calmora", 250), ("Feverex", 400), ("Dolonil", 500), ("Restivan", 200)])
def dosage(r, med, other):
    (name, mg), hours = med, r.choice([4, 6, 8])
    cap = mg * r.choice([3, 4])
    return {
        "q1": f"What is the usual adult dose of {name}?",
        "q2": f"What is the usual adult dose of {name}, and what is the most {name} an adult can take in "
        "24 hours?",
        "a_id": f"medical/leaflets/{name.lower()}",
        "f1": (
            f"The usual adult dose of {name} is {mg} mg every {hours} hours with food.",
            f"adult dose of {name} {mg} mg every {hours} hours",
        ),
        "f2": (f"Adults should not take more than {cap:,} mg of {name} in 24 hours.", None),
        "fill_a": ["Swallow the tablets whole with water."],
        "b_id": f"medical/leaflets/{name.lower()}-limits",
        "fill_b": ["Ask a pharmacist before combining it with other painkillers."],
        "distractors": [
            (f"medical/leaflets/{other[0].lower()}", f"{other[0]} tablets contain {other[1]} mg each."),
            ("medical/children", "Children's doses depend on body weight."),
        ],
    }


@topic("medical", "storage", ["oral suspension", "eye drops", "insulin pen", "nasal spray"])
def storage(r, form, other):
    temp, days = r.choice([8, 25, 30]), r.choice([14, 28, 30])
    return {
        "q1": f"How should the {form} be stored?",
        "q2": f"How should the {form} be stored, and how long can an opened {form} be used?",
        "a_id": f"medical/storage/{form.replace(' ', '-')}",
        "f1": (
            f"Store the {form} below {temp} degrees Celsius, away from direct sunlight.",
            f"store {form} below {temp} degrees Celsius",
        ),
        "f2": (
            f"Once opened, the {form} must be used within {days} days.",
            f"opened {form} used within {days} days",
        ),
        "fill_a": ["Keep it out of the reach of children."],
        "b_id": "medical/storage/after-opening",
        "fill_b": ["Write the opening date on the box."],
        "distractors": [
            (f"medical/storage/{other.replace(' ', '-')}", f"The {other} must not be frozen."),
            ("medical/disposal", "Return unused medicines to any pharmacy."),
        ],
    }


@topic("medical", "flu-clinic", ["Riverside", "Hillcrest", "Old Town", "Westgate"])
def flu_clinic(r, site, other):
    start = date(2025, r.choice([9, 10]), r.randrange(1, 28))
    end = start + timedelta(days=r.choice([42, 56, 70]))
    style = r.choice(["iso", "mdy", "dmy"])
    minutes, weeks = r.choice([10, 15]), r.choice([2, 3, 4])
    return {
        "q1": f"When do flu vaccination clinics run at the {site} site?",
        "q2": f"When do the {site} flu vaccination clinics run, and how far ahead can flu vaccination "
        "appointments be booked?",
        "a_id": f"medical/clinics/{site.lower().replace(' ', '-')}",
        "f1": (
            f"Flu vaccination clinics at the {site} site run from {fmt_date(start, style)} to "
            f"{fmt_date(end, style)}.",
            f"{site} flu vaccination clinics from {fmt_date(start, 'iso')} to {fmt_date(end, 'iso')}",
        ),
        "f2": (
            f"Flu vaccination appointments last {minutes} minutes and can be booked up to {weeks} weeks "
            "ahead.",
            f"appointments booked up to {weeks} weeks ahead",
        ),
        "fill_a": ["Bring your NHS-style patient card."],
        "b_id": "medical/clinics/booking",
        "fill_b": ["Walk-ins are seen when slots are free."],
        "distractors": [
            (
                f"medical/clinics/{other.lower().replace(' ', '-')}",
                f"The {other} site offers flu vaccination on Saturdays only.",
            ),
            ("medical/covid", "Covid boosters are booked separately."),
        ],
    }


@topic("medical", "prescription-refill", ["Maple Street", "Harbour View", "Elm Park", "Station Road"])
def prescription_refill(r, practice, other):
    days = r.choice([2, 3, 5])
    return {
        "q1": f"How long does a repeat prescription take at {practice} surgery?",
        "q2": f"How long does a repeat prescription take at {practice} surgery, and where do I request one?",
        "a_id": f"medical/practices/{practice.lower().replace(' ', '-')}",
        "f1": (
            f"Repeat prescriptions at {practice} surgery are ready {days} working days after the request.",
            f"{practice} repeat prescriptions ready {days} working days after request",
        ),
        "f2": (
            'Repeat prescriptions are requested on the "My Prescriptions" page of the patient portal.',
            'requested on "My Prescriptions" page of patient portal',
        ),
        "fill_a": ["Controlled medicines need a review first."],
        "b_id": "medical/portal",
        "fill_b": ["The portal is available on the web and as an app."],
        "distractors": [
            (
                f"medical/practices/{other.lower().replace(' ', '-')}",
                f"{other} surgery closes at noon on Wednesdays.",
            ),
            ("medical/pharmacies", "Any pharmacy can collect a prescription for you."),
        ],
    }


@topic("medical", "side-effects", ["Calmora", "Feverex", "Dolonil", "Restivan"])
def side_effects(r, med, other):
    pct, days = r.choice([5, 8, 12]), r.choice([2, 3])
    return {
        "q1": f"What should I do if I get a rash or swelling after taking {med}?",
        "q2": f"What should I do if I get a rash or swelling after taking {med}, and how common is nausea "
        f"with {med}?",
        "a_id": f"medical/side-effects/{med.lower()}",
        "f1": (
            f"If a rash or swelling of the face appears after taking {med}, stop taking it and call "
            "emergency services.",
            f"rash or swelling after {med} stop taking it and call emergency services",
        ),
        "f2": (
            f"Mild nausea with {med} affects about {pct}% of patients and settles within {days} days.",
            f"nausea with {med} affects {pct}% of patients",
        ),
        "fill_a": ["Report side effects to your pharmacist."],
        "b_id": f"medical/side-effects/{med.lower()}-common",
        "fill_b": ["Taking it with food can help."],
        "distractors": [
            (f"medical/side-effects/{other.lower()}", f"{other} can cause drowsiness."),
            ("medical/allergies", "Tell your doctor about any allergy to painkillers."),
        ],
    }


@topic("medical", "fasting", ["cholesterol", "glucose", "liver function", "iron"])
def fasting(r, test, other):
    hours, days = r.choice([8, 10, 12]), r.choice([3, 5, 7])
    return {
        "q1": f"How long must I fast before a {test} blood test?",
        "q2": f"How long must I fast before a {test} blood test, and when are {test} test results ready?",
        "a_id": f"medical/tests/{test.replace(' ', '-')}",
        "f1": (
            f"Patients must fast for {hours} hours before a {test} blood test; water is allowed.",
            f"fast {hours} hours before {test} blood test",
        ),
        "f2": (
            f"{test.capitalize()} test results appear in the patient portal within {days} working days.",
            f"{test} test results in patient portal within {days} working days",
        ),
        "fill_a": ["Take your usual medicines unless told otherwise."],
        "b_id": "medical/tests/results",
        "fill_b": ["A nurse calls if a result needs action."],
        "distractors": [
            (f"medical/tests/{other.replace(' ', '-')}", f"No fasting is needed for an {other} test."),
            ("medical/tests/booking", "Blood tests are booked at the front desk."),
        ],
    }


# --- legal (fictional jurisdictions and contracts; not legal advice) ------------------------------
@topic("legal", "rent-increase", ["Northshire", "Eastmarch", "Lakeland", "Southvale"])
def rent_increase(r, region, other):
    days, months = r.choice([30, 60, 90]), r.choice([12, 18, 24])
    return {
        "q1": f"How much notice must a landlord in {region} give before a rent increase?",
        "q2": f"How much notice must a {region} landlord give before a rent increase, and how often can "
        "the rent increase?",
        "a_id": f"legal/tenancy/{region.lower()}",
        "f1": (
            f"Under the {region} tenancy code, a landlord must give {days} days' written notice before a "
            "rent increase.",
            f"{region} landlord must give {days} days written notice before rent increase",
        ),
        "f2": (f"In {region} the rent may increase at most once every {months} months.", None),
        "fill_a": ["Notices must state the new rent and the date it applies."],
        "b_id": f"legal/tenancy/{region.lower()}-limits",
        "fill_b": ["Tenants can challenge an increase at the rent tribunal."],
        "distractors": [
            (f"legal/tenancy/{other.lower()}", f"In {other} rent increases follow a published index."),
            ("legal/tenancy/general", "Written notice can be sent by post or email."),
        ],
    }


@topic("legal", "deposit", ["Northshire", "Eastmarch", "Lakeland", "Southvale"])
def deposit(r, region, other):
    weeks, days = r.choice([4, 5, 6]), r.choice([10, 14, 21])
    return {
        "q1": f"What is the maximum security deposit in {region}?",
        "q2": f"What is the maximum security deposit in {region}, and when must the deposit be returned?",
        "a_id": f"legal/deposits/{region.lower()}",
        "f1": (
            f"In {region}, security deposits are capped at {weeks} weeks of rent.",
            f"{region} security deposits capped at {weeks} weeks of rent",
        ),
        "f2": (
            f"The deposit must be returned within {days} days after the tenancy ends.",
            f"deposit returned within {days} days after tenancy ends",
        ),
        "fill_a": ["Deposits are held in a government-backed scheme."],
        "b_id": "legal/deposits/return",
        "fill_b": ["Deductions must be itemised in writing."],
        "distractors": [
            (f"legal/deposits/{other.lower()}", f"{other} has no cap on holding deposits."),
            ("legal/deposits/pets", "A pet deposit counts towards the cap."),
        ],
    }


@topic("legal", "small-claims", ["Northshire", "Eastmarch", "Lakeland", "Southvale"])
def small_claims(r, region, other):
    limit, other_limit = r.sample([5000, 7500, 10000, 12500], 2)
    fee = r.choice([35, 60, 115, 205])
    return {
        "q1": f"Up to what amount can I use the small claims track in {region}?",
        "q2": f"What is the small claims limit in {region}, and what is the filing fee for a small claim?",
        "a_id": f"legal/courts/{region.lower()}-small-claims",
        "f1": (
            f"The {region} small claims track handles disputes up to {money(limit)}.",
            f"{region} small claims track disputes up to {money(limit)}",
        ),
        "f2": (
            f"The court filing fee for a small claim is {money(fee)}.",
            f"filing fee for small claim {money(fee)}",
        ),
        "fill_a": ["Parties usually represent themselves."],
        "b_id": "legal/courts/fees",
        "fill_b": ["Fees can be waived on low incomes."],
        "distractors": [
            (
                f"legal/courts/{other.lower()}-small-claims",
                f"The {other} small claims track handles disputes up to {money(other_limit)}.",
            ),
            ("legal/courts/mediation", "Free mediation is offered before a hearing."),
        ],
    }


@topic("legal", "limitation", ["breach of contract", "personal injury", "defamation", "unpaid wages"])
def limitation(r, claim, other):
    years, other_years = r.sample([1, 2, 3, 6], 2)
    return {
        "q1": f"How long do I have to file a claim for {claim}?",
        "q2": f"How long do I have to file a {claim} claim, and does mediation stop the clock?",
        "a_id": f"legal/limitation/{claim.replace(' ', '-')}",
        "f1": (
            f"Claims for {claim} must be filed within {years} years of the event.",
            f"{claim} claims filed within {years} years",
        ),
        "f2": (
            "The limitation clock stops while the parties are in formal mediation.",
            "limitation clock stops during formal mediation",
        ),
        "fill_a": ["The clock starts when the claimant knew of the harm."],
        "b_id": "legal/limitation/mediation",
        "fill_b": ["Informal talks do not stop it."],
        "distractors": [
            (
                f"legal/limitation/{other.replace(' ', '-')}",
                f"Claims for {other} must be filed within {other_years} years of the event.",
            ),
            ("legal/limitation/minors", "Different rules apply to minors."),
        ],
    }


@topic(
    "legal",
    "force-majeure",
    ["Master Services Agreement", "Reseller Agreement", "Data Processing Addendum", "Supply Contract"],
)
def force_majeure(r, contract, other):
    clause, days = r.choice([14, 17, 21, 9]), r.choice([30, 60, 90])
    return {
        "q1": f"Which clause of the {contract} covers force majeure?",
        "q2": f"Which clause of the {contract} covers force majeure, and when can a party terminate "
        "after a force majeure event?",
        "a_id": f"legal/contracts/{contract.lower().replace(' ', '-')}",
        "f1": (
            f'Clause {clause} of the {contract}, titled "Force Majeure", excuses delays caused by events '
            "outside either party's control.",
            f'clause {clause} of {contract} titled "Force Majeure"',
        ),
        "f2": (
            f"Either party may terminate the {contract} if a force majeure event lasts longer than {days} "
            "days.",
            f"terminate if force majeure event lasts longer than {days} days",
        ),
        "fill_a": ["Notice of the event must be given promptly."],
        "b_id": "legal/contracts/termination",
        "fill_b": ["Termination does not waive accrued fees."],
        "distractors": [
            (
                f"legal/contracts/{other.lower().replace(' ', '-')}",
                f"The {other} is governed by the laws of Northshire.",
            ),
            ("legal/contracts/liability", "Liability is capped at fees paid in the prior twelve months."),
        ],
    }


@topic(
    "legal",
    "annual-filing",
    ["Acorn Robotics Ltd", "Greyfield Media Ltd", "Solent Bakeries Ltd", "Vantage Freight Ltd"],
)
def annual_filing(r, company, other):
    deadline = some_date(r, 2026)
    style = r.choice(["iso", "mdy", "dmy"])
    fee = r.choice([150, 375, 750])
    return {
        "q1": f"When is the annual confirmation statement of {company} due?",
        "q2": f"When is the confirmation statement of {company} due, and what is the penalty for a late "
        "confirmation statement?",
        "a_id": f"legal/companies/{company.split()[0].lower()}",
        "f1": (
            f"The deadline for the annual confirmation statement of {company} is "
            f"{fmt_date(deadline, style)}.",
            f"{company} confirmation statement deadline {fmt_date(deadline, 'mdy')}",
        ),
        "f2": (
            f"A late confirmation statement incurs a penalty of €{fee}.",
            f"late confirmation statement penalty €{fee}",
        ),
        "fill_a": ["The statement is filed online."],
        "b_id": "legal/companies/penalties",
        "fill_b": ["Repeated late filing can lead to striking off."],
        "distractors": [
            (f"legal/companies/{other.split()[0].lower()}", f"{other} files its accounts in March."),
            ("legal/companies/directors", "Directors must keep their addresses up to date."),
        ],
    }


# --- product docs ---------------------------------------------------------------------------------
@topic("product_docs", "rate-limit", ["Search", "Ingest", "Reports", "Billing"])
def rate_limit(r, api, other):
    limit, other_limit = r.sample([60, 120, 300, 600, 1200], 2)
    return {
        "q1": f"What is the rate limit of the {api} API?",
        "q2": f"What is the rate limit of the {api} API, and what does the {api} API return when the limit "
        "is exceeded?",
        "a_id": f"docs/api/{api.lower()}/limits",
        "f1": (
            f"The {api} API allows {limit:,} requests per minute per API key.",
            f"{api} API allows {limit:,} requests per minute per API key",
        ),
        "f2": (
            f'Exceeding the {api} API limit returns HTTP 429 with a "Retry-After" header.',
            'returns HTTP 429 with "Retry-After" header',
        ),
        "fill_a": ["Limits are counted per key, not per user."],
        "b_id": "docs/api/errors",
        "fill_b": ["Clients should back off exponentially."],
        "distractors": [
            (
                f"docs/api/{other.lower()}/limits",
                f"The {other} API allows {other_limit:,} requests per minute.",
            ),
            ("docs/api/auth", "Every request needs a bearer token."),
        ],
    }


@topic("product_docs", "upload-limit", ["Free", "Pro", "Team", "Enterprise"])
def upload_limit(r, plan, other):
    mb, other_mb = r.sample([25, 100, 250, 500], 2)
    gb = r.choice([2, 5, 10])
    return {
        "q1": f"What is the maximum upload size per file on the {plan} plan?",
        "q2": f"What is the maximum upload size per file on the {plan} plan, and how are very large files "
        "uploaded?",
        "a_id": f"docs/uploads/{plan.lower()}",
        "f1": (
            f"Uploads on the {plan} plan are limited to {mb} MB per file.",
            f"{plan} plan uploads limited to {mb} MB per file",
        ),
        "f2": (
            f"Files larger than {gb} GB must be uploaded through the resumable upload endpoint.",
            f"files larger than {gb} GB uploaded through resumable upload endpoint",
        ),
        "fill_a": ["Uploads are scanned for malware."],
        "b_id": "docs/uploads/resumable",
        "fill_b": ["Resumable uploads survive network drops."],
        "distractors": [
            (
                f"docs/uploads/{other.lower()}",
                f"Uploads on the {other} plan are limited to {other_mb} MB per file.",
            ),
            ("docs/uploads/formats", "Any file type is accepted."),
        ],
    }


@topic("product_docs", "sdk-release", ["Python", "TypeScript", "Go", "Java"])
def sdk_release(r, sdk, other):
    major, minor = r.choice([2, 3, 4]), r.randrange(0, 9)
    released = some_date(r)
    ends = released + timedelta(days=r.choice([180, 365]))
    style = r.choice(["iso", "mdy", "dmy"])
    return {
        "q1": f"When was version {major}.{minor}.0 of the {sdk} SDK released?",
        "q2": f"When was the {sdk} SDK version {major}.{minor}.0 released, and when does support for the "
        f"previous {sdk} SDK version end?",
        "a_id": f"docs/sdk/{sdk.lower()}/changelog",
        "f1": (
            f"Version {major}.{minor}.0 of the {sdk} SDK was released on {fmt_date(released, style)}.",
            f"{sdk} SDK version {major}.{minor}.0 released {fmt_date(released, 'iso')}",
        ),
        "f2": (
            f"Support for the previous {sdk} SDK version ends on {fmt_date(ends, style)}.",
            f"support for previous {sdk} SDK version ends {fmt_date(ends, 'dmy')}",
        ),
        "fill_a": ["The release adds async clients."],
        "b_id": f"docs/sdk/{sdk.lower()}/support-policy",
        "fill_b": ["Security fixes are backported during that time."],
        "distractors": [
            (f"docs/sdk/{other.lower()}/changelog", f"The {other} SDK follows semantic versioning."),
            ("docs/sdk/install", "Install the SDK from the package registry."),
        ],
    }


@topic("product_docs", "cli-dry-run", ["sync", "deploy", "migrate", "prune"])
def cli_dry_run(r, command, other):
    seconds = r.choice([30, 90, 120, 300])
    return {
        "q1": f"How do I preview what metactl {command} will change?",
        "q2": f"How do I preview what metactl {command} will change, and when does metactl {command} time "
        "out?",
        "a_id": f"docs/cli/{command}",
        "f1": (
            f'Run "metactl {command} --dry-run" to preview changes without applying them.',
            f'preview changes with "metactl {command} --dry-run"',
        ),
        "f2": (
            f"metactl {command} times out after {seconds} seconds unless --timeout is given.",
            f"metactl {command} times out after {seconds} seconds",
        ),
        "fill_a": ["Add --verbose for a detailed log."],
        "b_id": "docs/cli/timeouts",
        "fill_b": ["Exit code 3 means a timeout."],
        "distractors": [
            (f"docs/cli/{other}", f"metactl {other} asks for confirmation before it starts."),
            ("docs/cli/install", "metactl ships as a single binary."),
        ],
    }


@topic("product_docs", "share-dashboard", ["dashboard", "report", "notebook", "board"])
def share_dashboard(r, thing, other):
    days = r.choice([7, 14, 30])
    button = r.choice(["Copy public link", "Create share link", "Get link"])
    return {
        "q1": f"How do I share a {thing} with someone outside my team?",
        "q2": f"How do I share a {thing} publicly, and when do public {thing} links expire?",
        "a_id": f"docs/sharing/{thing}",
        "f1": (
            f'To share a {thing} outside your team, open it and click "Share", then "{button}".',
            f'share {thing} click "Share" then "{button}"',
        ),
        "f2": (
            f"Public {thing} links expire after {days} days unless they are renewed.",
            f"public {thing} links expire after {days} days",
        ),
        "fill_a": ["Viewers do not need an account."],
        "b_id": "docs/sharing/expiry",
        "fill_b": ["Owners can revoke a link at any time."],
        "distractors": [
            (f"docs/sharing/{other}", f"A {other} can be shared with teammates from its menu."),
            ("docs/sharing/permissions", "Editors can change who has access."),
        ],
    }


@topic("product_docs", "webhooks", ["order", "invoice", "ticket", "deployment"])
def webhooks(r, event, other):
    tries, hours = r.choice([5, 8, 10]), r.choice([24, 48, 72])
    return {
        "q1": f"How are failed {event} webhook deliveries retried?",
        "q2": f"How are failed {event} webhook deliveries retried, and how is each webhook delivery signed?",
        "a_id": f"docs/webhooks/{event}",
        "f1": (
            f"Failed {event} webhook deliveries are retried up to {tries} times with exponential backoff "
            f"over {hours} hours.",
            f"{event} webhook deliveries retried up to {tries} times over {hours} hours",
        ),
        "f2": (
            'Each webhook delivery is signed with HMAC-SHA256 in the "X-Signature" header.',
            'delivery signed with HMAC-SHA256 in "X-Signature" header',
        ),
        "fill_a": ["Endpoints must answer within ten seconds."],
        "b_id": "docs/webhooks/security",
        "fill_b": ["Rotate the signing secret from the developer settings."],
        "distractors": [
            (f"docs/webhooks/{other}", f"{other.title()} events are sent in the order they happen."),
            ("docs/webhooks/testing", "Use the test button to send a sample event."),
        ],
    }


# --- HR policy ------------------------------------------------------------------------------------
@topic("hr_policy", "annual-leave", ["Netherlands", "Ireland", "Canada", "Singapore"])
def annual_leave(r, country, other):
    days, carry = r.choice([20, 25, 28]), r.choice([5, 8, 10])
    return {
        "q1": f"How many days of paid annual leave do full-time employees in {country} get?",
        "q2": f"How many days of paid annual leave do employees in {country} get, and how many unused days "
        "can be carried over?",
        "a_id": f"hr/leave/{country.lower()}",
        "f1": (
            f"Full-time employees in {country} receive {days} days of paid annual leave per year.",
            f"{country} employees receive {days} days paid annual leave",
        ),
        "f2": (
            f"Up to {carry} unused days can be carried over into the next year.",
            f"{carry} unused days carried over",
        ),
        "fill_a": ["Public holidays are on top of this."],
        "b_id": "hr/leave/carry-over",
        "fill_b": ["Carried-over days expire at the end of March."],
        "distractors": [
            (f"hr/leave/{other.lower()}", f"Part-time staff in {other} get leave pro rata."),
            ("hr/leave/requests", "Leave is requested in the HR portal."),
        ],
    }


@topic(
    "hr_policy",
    "parental-leave",
    ["primary caregivers", "adoptive parents", "birth parents", "surrogate parents"],
)
def parental_leave(r, who, other):
    weeks, secondary = r.choice([16, 20, 26]), r.choice([4, 6, 8])
    return {
        "q1": f"How much paid parental leave do {who} get?",
        "q2": f"How much paid parental leave do {who} get, and how much paid leave do secondary caregivers "
        "get?",
        "a_id": f"hr/parental/{who.split()[0]}",
        "f1": (
            f"{who.capitalize()} get {weeks} weeks of fully paid parental leave.",
            f"{who} get {weeks} weeks fully paid parental leave",
        ),
        "f2": (
            f"Secondary caregivers get {secondary} weeks of fully paid leave.",
            f"secondary caregivers get {secondary} weeks",
        ),
        "fill_a": ["Leave can start up to four weeks before the due date."],
        "b_id": "hr/parental/secondary",
        "fill_b": ["It can be taken in two blocks."],
        "distractors": [
            (f"hr/parental/{other.split()[0]}", f"{other.capitalize()} should tell HR as early as possible."),
            ("hr/parental/benefits", "Health benefits continue during leave."),
        ],
    }


@topic("hr_policy", "meal-expenses", [("Berlin", "€"), ("London", "£"), ("New York", "$"), ("Madrid", "€")])
def meal_expenses(r, city, other):
    (name, symbol), limit = city, r.choice([45, 55, 60, 75])
    days = r.choice([30, 60, 90])
    return {
        "q1": f"What is the daily meal allowance for business travel to {name}?",
        "q2": f"What is the daily meal allowance in {name}, and how soon must expense claims be submitted?",
        "a_id": f"hr/expenses/{name.lower().replace(' ', '-')}",
        "f1": (
            f"Meals during business travel to {name} are reimbursed up to {symbol}{limit} per day.",
            f"{name} meals reimbursed up to {symbol}{limit} per day",
        ),
        "f2": (
            f"Expense claims must be submitted within {days} days of the purchase.",
            f"expense claims submitted within {days} days",
        ),
        "fill_a": ["Alcohol is not reimbursed."],
        "b_id": "hr/expenses/claims",
        "fill_b": ["Attach an itemised receipt to every claim."],
        "distractors": [
            (
                f"hr/expenses/{other[0].lower().replace(' ', '-')}",
                f"Hotels in {other[0]} are booked centrally.",
            ),
            ("hr/expenses/mileage", "Mileage is paid at the government rate."),
        ],
    }


@topic("hr_policy", "work-abroad", ["engineering", "sales", "support", "finance"])
def work_abroad(r, team, other):
    days = r.choice([30, 45, 60, 90])
    return {
        "q1": f"For how long can someone in {team} work from another country?",
        "q2": f"For how long can {team} staff work from abroad, and how do they request it?",
        "a_id": f"hr/remote/{team}",
        "f1": (
            f"Employees in {team} may work from another country for up to {days} days per calendar year.",
            f"{team} employees work from another country up to {days} days per calendar year",
        ),
        "f2": (
            'Requests go through the "Work from abroad" form in the HR portal.',
            'requests through "Work from abroad" form',
        ),
        "fill_a": ["Tax rules of the host country still apply."],
        "b_id": "hr/remote/requests",
        "fill_b": ["Managers approve requests within a week."],
        "distractors": [
            (f"hr/remote/{other}", f"{other.title()} staff work from the office three days a week."),
            ("hr/remote/equipment", "Laptops must use the company VPN."),
        ],
    }


@topic("hr_policy", "probation", ["engineers", "managers", "interns", "contractors"])
def probation(r, role, other):
    months, weeks = r.choice([3, 4, 6]), r.choice([1, 2])
    return {
        "q1": f"How long is the probation period for new {role}?",
        "q2": f"How long is the probation period for new {role}, and what is the notice period during "
        "probation?",
        "a_id": f"hr/probation/{role}",
        "f1": (
            f"The probation period for new {role} is {months} months.",
            f"probation period for new {role} {months} months",
        ),
        "f2": (
            f"During probation the notice period is {weeks} weeks on either side.",
            f"notice period during probation {weeks} weeks",
        ),
        "fill_a": ["A review meeting takes place before it ends."],
        "b_id": "hr/probation/notice",
        "fill_b": ["After probation the contractual notice applies."],
        "distractors": [
            (f"hr/probation/{other}", f"Probation for {other} can be extended once."),
            ("hr/probation/goals", "Goals are agreed in the first week."),
        ],
    }


@topic("hr_policy", "open-enrollment", ["medical", "dental", "vision", "pension"])
def open_enrollment(r, plan, other):
    start = date(2025, 11, r.randrange(1, 12))
    end = start + timedelta(days=r.choice([14, 21]))
    effective = date(2026, 1, 1)
    style = r.choice(["iso", "mdy", "dmy"])
    return {
        "q1": f"When is open enrollment for the {plan} plan?",
        "q2": f"When is {plan} plan open enrollment, and when do {plan} plan changes take effect?",
        "a_id": f"hr/benefits/{plan}",
        "f1": (
            f"Open enrollment for the {plan} plan runs from {fmt_date(start, style)} to "
            f"{fmt_date(end, style)}.",
            f"{plan} plan open enrollment from {fmt_date(start, 'mdy')} to {fmt_date(end, 'mdy')}",
        ),
        "f2": (
            f"Changes to the {plan} plan made during enrollment take effect on {fmt_date(effective, style)}.",
            f"{plan} plan changes take effect {fmt_date(effective, 'iso')}",
        ),
        "fill_a": ["Enrollment is done in the benefits portal."],
        "b_id": "hr/benefits/changes",
        "fill_b": ["Life events allow changes outside the window."],
        "distractors": [
            (f"hr/benefits/{other}", f"The {other} plan covers spouses and children."),
            ("hr/benefits/providers", "Providers are listed on the intranet."),
        ],
    }


# --- assembly -------------------------------------------------------------------------------------
def fact_of(sentence: str, fact: str | None) -> str:
    """The fact as a reference states it: a short phrase, or the sentence itself minus its full stop."""
    return fact or sentence.rstrip(".")


def without_contacts(sentence: str) -> str:
    """An answer names the person but never repeats their contact details."""
    return re.sub(r" \([^)]*@[^)]*\)", "", sentence)


def passage(source_id: str, sentences: list[str]) -> dict:
    return {"source_id": source_id, "content": " ".join(sentences)}


def feature_tags(facts: list[str], context: list[dict]) -> list[str]:
    text = " ".join(facts)
    tags = []
    if re.search(
        r"\d{4}-\d{2}-\d{2}|\b(?:January|February|March|April|May|June|July|August|September|October|"
        r"November|December)\b",
        text,
    ):
        tags.append("has_date")
    if re.search(r"\d", re.sub(r"\d{4}-\d{2}-\d{2}|\d{1,2},? \d{4}", "", text)):
        tags.append("has_number")
    if '"' in text:
        tags.append("has_quote")
    if any("@" in d["content"] for d in context):
        tags.append("pii_in_context")
    return tags


def build_case(domain: str, name: str, entities: list, build, variant: int) -> dict:
    key = f"{domain}-{name}-{variant + 1}"
    r = random.Random(key)
    order = random.Random(f"{domain}-{name}").sample(entities, len(entities))
    m = build(r, order[variant % len(order)], order[(variant + 1) % len(order)])
    difficulty = DIFFICULTIES[variant % len(DIFFICULTIES)]
    (s1, f1), (s2, f2) = m["f1"], m["f2"]
    d1, d2 = (passage(source_id, [content]) for source_id, content in m["distractors"])
    fill_a = list(m["fill_a"])
    if difficulty == "easy":
        a = passage(m["a_id"], [s1, *fill_a] if r.random() < 0.5 else [*fill_a, s1])
        docs = [a, d1, d2] if r.random() < 0.5 else [d1, a, d2]
        question, used = m["q1"], [(s1, f1)]
    elif difficulty == "medium":
        a = passage(m["a_id"], [s1, *fill_a, s2])
        docs = [a, d1, d2] if r.random() < 0.5 else [d1, a, d2]
        question, used = m["q2"], [(s1, f1), (s2, f2)]
    else:
        a, b = passage(m["a_id"], [s1, *fill_a]), passage(m["b_id"], [*m["fill_b"], s2])
        docs = [[a, d1, b, d2], [d1, a, b, d2], [a, d1, d2, b]][r.randrange(3)]
        question, used = m["q2"], [(s1, f1), (s2, f2)]
    facts = [fact_of(s, f) for s, f in used]
    return {
        "case_key": key,
        "app": None,
        "input": question,
        "retrieved_context": docs,
        "reference": {"expected_answer": " ".join(without_contacts(s) for s, _ in used), "facts": facts},
        "tags": [domain, difficulty, *feature_tags(facts, docs)],
    }


def build_all() -> list[dict]:
    return [
        build_case(domain, name, entities, build, variant)
        for domain, name, entities, build in TOPICS
        for variant in range(len(DIFFICULTIES))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args().out
    cases = build_all()
    out.write_text("".join(json.dumps(c, ensure_ascii=False, sort_keys=True) + "\n" for c in cases))
    print(f"{len(cases)} cases written to {out}")


if __name__ == "__main__":
    main()
