"""Write tasks/helpdesk/data/test.jsonl from the fact table below, deterministically.

    python tasks/helpdesk/generate.py          # rewrites the data; a second run gives the same bytes

Every fact of the fictional company (Lumen Harbor Logistics) is written here by this project; nothing is copied
from a dataset. Each fact has a policy sentence (given to the model as context, as a retrieval-backed helpdesk
would), a short answer that appears verbatim in it, and two phrasings of the employee's question.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20261122

# (id, category, policy sentence, short answer, [question phrasings])
FACTS: list[tuple[str, str, str, str, list[str]]] = [
    (
        "hr-leave",
        "hr",
        "Full-time employees receive 22 days of paid annual leave per calendar year.",
        "22 days",
        [
            "How many days of paid annual leave do I get per year?",
            "What is my yearly paid holiday allowance?",
        ],
    ),
    (
        "hr-carry",
        "hr",
        "Up to 5 unused leave days may be carried over into the next year.",
        "5",
        [
            "How many unused leave days can I carry over?",
            "What is the maximum number of leave days I can move to next year?",
        ],
    ),
    (
        "hr-sick",
        "hr",
        "A doctor's note is required for sick leave longer than 3 consecutive days.",
        "3 consecutive days",
        [
            "After how many days of sick leave do I need a doctor's note?",
            "When does sick leave require a doctor's note?",
        ],
    ),
    (
        "hr-parental",
        "hr",
        "Parents receive 16 weeks of paid parental leave.",
        "16 weeks",
        ["How long is paid parental leave?", "How many weeks of parental leave are paid?"],
    ),
    (
        "hr-probation",
        "hr",
        "The probation period for new hires is 6 months.",
        "6 months",
        ["How long is the probation period?", "For how long are new employees on probation?"],
    ),
    (
        "hr-payday",
        "hr",
        "Salaries are paid on the 25th of each month.",
        "25th",
        ["On which day of the month is salary paid?", "When do we get paid each month?"],
    ),
    (
        "hr-notice",
        "hr",
        "Employees must give 2 months of notice before resigning.",
        "2 months",
        ["How much notice must I give before resigning?", "What is the notice period if I want to quit?"],
    ),
    (
        "hr-remote",
        "hr",
        "Employees may work remotely up to 3 days per week.",
        "3 days",
        ["How many days a week can I work from home?", "What is the limit on remote work days per week?"],
    ),
    (
        "it-desk",
        "it",
        "The IT service desk can be reached at extension 4357.",
        "4357",
        ["What extension do I dial for the IT service desk?", "Which phone extension reaches IT support?"],
    ),
    (
        "it-password",
        "it",
        "Passwords must be changed every 90 days.",
        "90 days",
        ["How often do I have to change my password?", "After how many days does my password expire?"],
    ),
    (
        "it-length",
        "it",
        "Passwords must be at least 14 characters long.",
        "14 characters",
        ["What is the minimum password length?", "How long does a password have to be?"],
    ),
    (
        "it-laptop",
        "it",
        "Company laptops are replaced every 4 years.",
        "4 years",
        ["How often are company laptops replaced?", "After how many years do I get a new laptop?"],
    ),
    (
        "it-vpn",
        "it",
        "The company VPN client is called HarborLink.",
        "HarborLink",
        ["What is the name of the VPN client?", "Which VPN software do we use?"],
    ),
    (
        "it-wifi",
        "it",
        "The guest Wi-Fi network is named LHL-Guest.",
        "LHL-Guest",
        ["What is the guest Wi-Fi network called?", "Which Wi-Fi network should visitors join?"],
    ),
    (
        "it-ticket",
        "it",
        "Hardware problems are reported through the Beacon ticket portal.",
        "Beacon",
        ["Where do I report a hardware problem?", "Which portal is used for hardware tickets?"],
    ),
    (
        "fin-claim",
        "finance",
        "Expense claims must be submitted within 30 days of the purchase.",
        "30 days",
        [
            "Within how many days must I submit an expense claim?",
            "What is the deadline for filing an expense claim?",
        ],
    ),
    (
        "fin-meal",
        "finance",
        "The daily meal allowance on business trips is 45 euros.",
        "45 euros",
        [
            "What is the daily meal allowance when travelling?",
            "How much can I spend on meals per day on a business trip?",
        ],
    ),
    (
        "fin-receipt",
        "finance",
        "Receipts are required for any expense above 25 euros.",
        "25 euros",
        ["Above what amount do I need a receipt?", "From which amount must expenses have a receipt?"],
    ),
    (
        "fin-approve",
        "finance",
        "Purchases above 2000 euros need approval from the finance director.",
        "finance director",
        ["Who must approve purchases above 2000 euros?", "Whose approval do large purchases need?"],
    ),
    (
        "fin-mileage",
        "finance",
        "Private car use for business is reimbursed at 0.30 euros per kilometre.",
        "0.30 euros",
        [
            "How much is mileage reimbursed per kilometre?",
            "What is the per-kilometre rate for using my own car?",
        ],
    ),
    (
        "fin-tool",
        "finance",
        "Expenses are filed in the Ledgerline app.",
        "Ledgerline",
        ["Which app do I use to file expenses?", "Where are expense claims submitted?"],
    ),
    (
        "adm-badge",
        "admin",
        "Lost access badges are replaced by the reception on floor 2.",
        "floor 2",
        [
            "Where do I get a replacement access badge?",
            "On which floor is the reception that replaces badges?",
        ],
    ),
    (
        "adm-rooms",
        "admin",
        "Meeting rooms are booked through the Roomboard calendar.",
        "Roomboard",
        ["How do I book a meeting room?", "Which calendar is used for meeting room bookings?"],
    ),
    (
        "adm-parking",
        "admin",
        "Parking permits are issued by the facilities team.",
        "facilities team",
        ["Who issues parking permits?", "Which team do I ask for a parking permit?"],
    ),
    (
        "adm-hours",
        "admin",
        "The office building is open from 7:00 to 20:00 on weekdays.",
        "7:00 to 20:00",
        ["What are the office opening hours on weekdays?", "When is the building open during the week?"],
    ),
]


def build_rows() -> list[dict]:
    rows = []
    for fact_id, category, context, answer, questions in FACTS:
        assert answer in context, f"{fact_id}: the answer must appear verbatim in the policy sentence"
        for k, question in enumerate(questions):
            rows.append(
                {
                    "id": f"{fact_id}-q{k}",
                    "category": category,
                    "context": context,
                    "question": question,
                    "answer": answer,
                }
            )
    # A fixed shuffle so categories interleave and `limit=N` still covers several of them.
    random.Random(SEED).shuffle(rows)
    return rows


def main() -> None:
    out = Path(__file__).parent / "data" / "test.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for row in build_rows():
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
