"""Word lists for the seeded world: customer companies, people and everyday support mail."""

COMPANY_STEMS = (
    "Northwind",
    "Bluefin",
    "Harborview",
    "Granite Peak",
    "Silverline",
    "Redwood",
    "Meridian",
    "Cobalt",
    "Lakeshore",
    "Ironbridge",
    "Summit Ridge",
    "Brightwater",
    "Oakmont",
    "Evergreen",
    "Copperfield",
    "Stonegate",
    "Clearpath",
    "Westbrook",
    "Pinecrest",
    "Highland",
    "Sterling",
    "Falcon",
    "Tidewater",
    "Crescent",
    "Aurora",
    "Beacon",
    "Kestrel",
    "Juniper",
    "Maple Leaf",
    "Orion",
    "Quarry",
    "Riverbend",
    "Sandstone",
    "Trident",
    "Vantage",
    "Willowby",
    "Zephyr",
    "Alder",
    "Bramble",
    "Cedar Point",
)
COMPANY_KINDS = (
    "Logistics",
    "Health",
    "Foods",
    "Insurance",
    "Retail",
    "Energy",
    "Robotics",
    "Media",
    "Travel",
    "Capital",
    "Biotech",
    "Manufacturing",
    "Learning",
    "Outfitters",
    "Telecom",
)
INDUSTRIES = {
    "Logistics": "TRANSPORTATION_TRUCKING_RAILROAD",
    "Health": "HOSPITAL_HEALTH_CARE",
    "Foods": "FOOD_PRODUCTION",
    "Insurance": "INSURANCE",
    "Retail": "RETAIL",
    "Energy": "OIL_ENERGY",
    "Robotics": "MACHINERY",
    "Media": "MEDIA_PRODUCTION",
    "Travel": "LEISURE_TRAVEL_TOURISM",
    "Capital": "FINANCIAL_SERVICES",
    "Biotech": "BIOTECHNOLOGY",
    "Manufacturing": "INDUSTRIAL_AUTOMATION",
    "Learning": "E_LEARNING",
    "Outfitters": "SPORTING_GOODS",
    "Telecom": "TELECOMMUNICATIONS",
}
TLDS = (".com", ".com", ".com", ".io", ".co", ".net", ".co.uk", ".de")
SECOND_TLDS = (".co.uk", ".de", ".fr", ".eu")

FIRST_NAMES = (
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Mateo",
    "Sophia",
    "Lucas",
    "Mia",
    "Ethan",
    "Amelia",
    "Arjun",
    "Harper",
    "Kenji",
    "Evelyn",
    "Omar",
    "Chloe",
    "Diego",
    "Priya",
    "Jonas",
    "Freya",
    "Tomasz",
    "Aisha",
    "Lars",
    "Camila",
    "Hiroshi",
    "Zoe",
    "Rafael",
    "Nora",
    "Samir",
    "Ingrid",
    "Chen",
    "Lena",
    "Marcus",
    "Yuki",
    "Fatima",
    "Oscar",
    "Elena",
    "Kwame",
    "Isla",
)
LAST_NAMES = (
    "Smith",
    "Garcia",
    "Nguyen",
    "Müller",
    "Rossi",
    "Kowalski",
    "Patel",
    "Johansson",
    "O'Brien",
    "Tanaka",
    "Dubois",
    "Silva",
    "Novak",
    "Andersen",
    "Cohen",
    "Okafor",
    "Larsen",
    "Fischer",
    "Moreau",
    "Kim",
    "Schneider",
    "Walsh",
    "Haddad",
    "Fernandez",
    "Lindqvist",
    "Ivanova",
    "Brennan",
    "Yamamoto",
    "Costa",
    "Hughes",
    "Bauer",
    "Mensah",
    "Duarte",
    "Wright",
    "Sato",
    "Keller",
    "Murphy",
    "Rahman",
    "Eriksen",
    "Clarke",
)
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "proton.me", "icloud.com")

# Acme's own people: Jira assignees, and agents in each support tool.
STAFF = (
    ("Dana Whitfield", "Product Manager"),
    ("Ravi Menon", "Engineering Lead"),
    ("Sofia Lindgren", "Senior Engineer"),
    ("Tom Becker", "Engineer"),
    ("Grace Ho", "Support Lead"),
    ("Malik Johnson", "Support Engineer"),
)
COMPANY_DOMAIN = "acme-analytics.com"

GREETINGS = ("Hi team,", "Hello,", "Hi there,", "Good morning,", "Hey Acme support,", "Hi,")
CONTEXT = (
    "We've been using the product for about a year across finance and ops.",
    "Quick question from our analytics team.",
    "This came up again in our quarterly review.",
    "Several people on my team have asked about this.",
    "We're evaluating whether to roll the product out to more departments.",
    "",
)
CLOSINGS = (
    "Thanks!",
    "Thanks in advance.",
    "Best regards,",
    "Cheers,",
    "Appreciate any pointers.",
    "Let me know if you need more details.",
)

# Subject / body pairs quoting an issue key; {key} and {summary} are filled in.
CITED = (
    (
        "Is {key} on the roadmap?",
        "Our account manager mentioned {key} ({summary}). Is it planned for this year?",
    ),
    (
        "Any update on {key}?",
        "Following up on {key}. We were told {summary} is being worked on; any ETA?",
    ),
    ("ETA for {key}", "Could you share when {key} will ship? It is blocking our rollout."),
    (
        "Question about {summary}",
        "We saw https://acme-analytics.atlassian.net/browse/{key} in the public roadmap. "
        "Please add our vote, we really need it.",
    ),
    (
        "Follow-up: {key}",
        "Adding another +1 for {key} from our side. {summary} would save us hours a week.",
    ),
)

# Support mail unrelated to any feature; some contain key-like tokens that are not ANA keys.
UNRELATED = (
    (
        "Password reset not arriving",
        "I requested a password reset three times but the email never arrives. Can you check?",
        "account_access",
    ),
    (
        "Copy of last invoice",
        "Could you send me a PDF copy of the invoice for last month? Our accounts payable "
        "team lost it.",
        "billing",
    ),
    (
        "Update billing address",
        "We moved offices. Please update the billing address on our account to the new "
        "one in the attached letter.",
        "billing",
    ),
    (
        "Add two more seats",
        "We hired two analysts; how do we add seats to our current plan?",
        "billing",
    ),
    (
        "VAT number missing on invoice",
        "Our VAT ID is missing from the latest invoice. Please reissue it.",
        "billing",
    ),
    (
        "Change of account owner",
        "The previous admin left the company. Please transfer ownership of the account to me.",
        "account_access",
    ),
    (
        "Locked out after too many attempts",
        "My account got locked after I mistyped my password. Can you unlock it?",
        "account_access",
    ),
    (
        "Security questionnaire for ISO-9001 audit",
        "Our ISO-9001 auditor needs your latest security documentation and pen-test "
        "summary. Where can we download them?",
        "security_review",
    ),
    (
        "CSV import fails with UTF-8 BOM",
        "Uploading a file saved as UTF-8 with BOM gives a parsing error on the first column name.",
        "bug",
    ),
    (
        "Billing contact change",
        "Due to COVID-19 related restructuring our finance contact changed. Please send "
        "future invoices to the new address.",
        "billing",
    ),
    (
        "Purchase order number on invoice",
        "Please reference our purchase order PO-4471 on the next invoice, otherwise our "
        "system rejects it.",
        "billing",
    ),
    (
        "Checksum for the desktop installer",
        "IT needs the SHA-256 checksum of the desktop installer before approving it.",
        "security_review",
    ),
    (
        "Dashboard shows error 500",
        "Since this morning one of our dashboards shows 'Something went wrong (500)'. "
        "Others work fine.",
        "bug",
    ),
    (
        "Cancel trial workspace",
        "Please delete the trial workspace we created by mistake; we only need the main one.",
        "account_access",
    ),
    (
        "Data not refreshing overnight",
        "The nightly refresh didn't run; numbers are still from two days ago.",
        "bug",
    ),
    (
        "W-9 form request",
        "Our vendor onboarding requires your W-9. Could you send it over?",
        "billing",
    ),
)

DEAL_KINDS = (
    "New business",
    "Annual renewal",
    "Seat expansion",
    "Enterprise upgrade",
    "Pilot",
    "Platform add-on",
    "Multi-year renewal",
)
PLANS = ("starter", "pro", "pro", "enterprise")
