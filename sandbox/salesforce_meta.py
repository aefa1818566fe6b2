"""What a Salesforce org says about itself, per tenant profile: its schema (describe and
describe global), the API versions, its limits, its currencies, and each record as this org
shows it (a field the org lacks is absent, amounts in the deal's own currency).

The stored records (sandbox.salesforce_data) hold every field any tenant has; `view` turns
one into what this tenant's org serves, so the profile never changes what is stored."""

from typing import Any

from sandbox.salesforce_data import SCHEMA
from sandbox.tenants import Tenant

ISSUE_KEYS_FIELD = "Jira_Issue_Keys__c"
KEY_PREFIXES = {"Account": "001", "Opportunity": "006", "Task": "00T", "CurrencyType": "02B"}
LABELS = {
    "Account": ("Account", "Accounts"),
    "Opportunity": ("Opportunity", "Opportunities"),
    "Task": ("Task", "Tasks"),
    "CurrencyType": ("Currency", "Currencies"),
}
# Units of each currency per US dollar; a tenant's rates are relative to its corporate one.
PER_USD = {"USD": 1.0, "EUR": 0.8, "GBP": 0.75, "JPY": 150.0}
DECIMALS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}
CURRENCY_TYPE = {
    "Id": "id",
    "IsoCode": "string",
    "ConversionRate": "double",
    "DecimalPlaces": "double",
    "IsActive": "boolean",
    "IsCorporate": "boolean",
}
# Describe types where they differ from the SOQL type the parser compares with.
DESCRIBE_TYPES = {
    ("Account", "Website"): "url",
    ("Account", "Industry"): "picklist",
    ("Account", "Type"): "picklist",
    ("Opportunity", "StageName"): "picklist",
    ("Opportunity", "Type"): "picklist",
    ("Opportunity", "AccountId"): "reference",
    ("Task", "WhatId"): "reference",
    ("Task", "Status"): "picklist",
    ("Task", "Priority"): "picklist",
    ("Task", "Description"): "textarea",
    ("CurrencyType", "IsoCode"): "picklist",
}
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "url": "xsd:string",
    "textarea": "xsd:string",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "double": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "boolean": "xsd:boolean",
}
SYSTEM_FIELDS = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"}
REQUIRED = {"Name", "StageName", "CloseDate", "Subject", "IsoCode"}
NON_ASCII_SUFFIX = " – Müller & Søn 東京"


def schema_for(tenant: Tenant) -> dict[str, dict[str, str]]:
    """object -> field -> SOQL type, as this tenant's org has them."""
    schema = {name: dict(fields) for name, fields in SCHEMA.items()}
    if not tenant.salesforce_issue_keys_field:
        del schema["Opportunity"][ISSUE_KEYS_FIELD]
    if tenant.multi_currency:
        # Enabling multiple currencies adds CurrencyIsoCode to every object with currency
        # fields, and the CurrencyType object with the org's rates.
        for name in ("Account", "Opportunity"):
            schema[name]["CurrencyIsoCode"] = "string"
        schema["CurrencyType"] = dict(CURRENCY_TYPE)
    return schema


def rate(tenant: Tenant, code: str) -> float:
    """Units of `code` per unit of the corporate currency."""
    return PER_USD[code] / PER_USD[tenant.home_currency]


def currency_types(tenant: Tenant) -> dict[str, dict[str, Any]]:
    """The org's active currencies, the corporate one at rate 1."""
    return {
        f"02B{n:012d}AAA": {
            "Id": f"02B{n:012d}AAA",
            "IsoCode": code,
            "ConversionRate": rate(tenant, code),
            "DecimalPlaces": DECIMALS[code],
            "IsActive": True,
            "IsCorporate": code == tenant.home_currency,
            "IsDeleted": False,
        }
        for n, code in enumerate(PER_USD, start=1)
    }


def view(record: dict[str, Any], sobject: str, tenant: Tenant) -> dict[str, Any]:
    """The record as this tenant's org serves it."""
    shown = {k: v for k, v in record.items() if not k.startswith("_")}
    if sobject == "Opportunity":
        if not tenant.salesforce_issue_keys_field:
            shown.pop(ISSUE_KEYS_FIELD, None)
        if tenant.multi_currency:
            # The world's amount is in the corporate currency; the deal's own is its code's.
            code = record.get("_currency") or tenant.home_currency
            code = code if code in PER_USD else tenant.home_currency
            shown["CurrencyIsoCode"] = code
            if shown.get("Amount") is not None:
                shown["Amount"] = round(shown["Amount"] * rate(tenant, code), DECIMALS[code])
        if tenant.messy and record.get("_messy"):
            if record.get("IsClosed") and not record.get("IsWon"):
                shown["Amount"] = None
            shown["Name"] = f"{shown['Name']}{NON_ASCII_SUFFIX}"
    elif sobject == "Account":
        if tenant.multi_currency:
            shown["CurrencyIsoCode"] = tenant.home_currency
        if tenant.messy and record.get("_messy"):
            shown["Website"] = None
            shown["AnnualRevenue"] = None
    return shown


def converted(shown: dict[str, Any], field: str, tenant: Tenant) -> Any:
    """convertCurrency(field): the record's amount in the corporate currency."""
    value = shown.get(field)
    code = shown.get("CurrencyIsoCode") or tenant.home_currency
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    return round(value / rate(tenant, code), DECIMALS[tenant.home_currency])


# -- describe ------------------------------------------------------------------------------


def _field(sobject: str, name: str, soql_type: str) -> dict[str, Any]:
    """One entry of `fields`, with the keys a real describe gives each field."""
    kind = DESCRIBE_TYPES.get((sobject, name), soql_type)
    custom = name.endswith("__c")
    writable = name not in SYSTEM_FIELDS and name not in ("IsClosed", "IsWon")
    numeric = kind in ("currency", "percent", "double")
    return {
        "aggregatable": kind not in ("textarea", "boolean"),
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": 18 if kind in ("id", "reference") else 0 if numeric else 765,
        "calculated": False,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": writable,
        "custom": custom,
        "defaultValue": None,
        "defaultValueFormula": None,
        "defaultedOnCreate": name in SYSTEM_FIELDS,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": False,
        "extraTypeInfo": "plaintextarea" if kind == "textarea" else None,
        "filterable": kind != "textarea",
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": not numeric and kind not in ("datetime", "textarea"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": name == "Id",
        "inlineHelpText": None,
        "label": name.removesuffix("__c").replace("_", " "),
        "length": 0 if numeric or kind in ("date", "datetime", "boolean") else 255,
        "mask": None,
        "maskType": None,
        "name": name,
        "nameField": name == "Name",
        "namePointing": False,
        "nillable": name not in SYSTEM_FIELDS and name not in REQUIRED and kind != "boolean",
        "permissionable": name not in SYSTEM_FIELDS and name not in REQUIRED,
        "picklistValues": [],
        "polymorphicForeignKey": False,
        "precision": 18 if kind == "currency" else 3 if kind == "percent" else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": ["Account"] if name == "AccountId" else [],
        "relationshipName": name.removesuffix("Id") if kind == "reference" else None,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": kind == "picklist" and name == "CurrencyIsoCode",
        "scale": 2 if kind == "currency" else 0,
        "searchPrefilterable": False,
        "soapType": SOAP_TYPES[kind],
        "sortable": kind != "textarea",
        "type": "picklist" if name == "CurrencyIsoCode" else kind,
        "unique": False,
        "updateable": writable,
        "writeRequiresMasterRead": False,
    }


def _urls(sobject: str, version: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{sobject}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _summary(sobject: str, version: str) -> dict[str, Any]:
    label, plural = LABELS[sobject]
    writable = sobject not in ("CurrencyType",)
    return {
        "activateable": False,
        "createable": writable,
        "custom": False,
        "customSetting": False,
        "deletable": writable,
        "deprecatedAndHidden": False,
        "feedEnabled": sobject in ("Account", "Opportunity"),
        "keyPrefix": KEY_PREFIXES[sobject],
        "label": label,
        "labelPlural": plural,
        "layoutable": writable,
        "mergeable": sobject == "Account",
        "mruEnabled": writable,
        "name": sobject,
        "queryable": True,
        "replicateable": writable,
        "retrieveable": True,
        "searchable": writable,
        "triggerable": writable,
        "undeletable": writable,
        "updateable": writable,
        "urls": _urls(sobject, version),
    }


def describe_global(tenant: Tenant, version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_summary(name, version) for name in schema_for(tenant)],
    }


def describe(tenant: Tenant, sobject: str, version: str) -> dict[str, Any] | None:
    """An object's describe, or None when this org has no such object."""
    schema = schema_for(tenant)
    canonical = {name.lower(): name for name in schema}.get(sobject.lower())
    if canonical is None:
        return None
    return {
        **_summary(canonical, version),
        "childRelationships": [],
        "fields": [_field(canonical, name, kind) for name, kind in schema[canonical].items()],
        "recordTypeInfos": [],
    }


# -- versions and limits -------------------------------------------------------------------


def versions(lowest: int, highest: int) -> list[dict[str, str]]:
    """Every version with its release: v20.0 was Winter '11, then Spring, Summer, Winter."""
    answer = []
    for number in range(lowest, highest + 1):
        season = ("Winter", "Spring", "Summer")[(number - 20) % 3]
        year = 11 + (number - 20 + 2) // 3 if season == "Winter" else 11 + (number - 20) // 3
        answer.append(
            {
                "label": f"{season} '{year:02d}",
                "url": f"/services/data/v{number}.0",
                "version": f"{number}.0",
            }
        )
    return answer


def limits(used: int, daily: int) -> dict[str, dict[str, int]]:
    """The org's limits, the daily API requests as this sandbox has counted them."""
    fixed = {  # a Developer Edition's, as the REST API guide's example lists them
        "ActiveScratchOrgs": 3,
        "AnalyticsExternalDataSizeMB": 40960,
        "ConcurrentAsyncGetReportInstances": 200,
        "ConcurrentEinsteinDataInsightsStoryCreation": 5,
        "ConcurrentEinsteinDiscoveryStoryCreation": 2,
        "ConcurrentSyncReportRuns": 20,
        "DailyAnalyticsDataflowJobExecutions": 60,
        "DailyAnalyticsUploadedFilesSizeMB": 51200,
        "DailyFunctionsApiCallLimit": 235000,
        "DailyAsyncApexExecutions": 250000,
        "DailyAsyncApexTests": 500,
        "DailyBulkApiBatches": 15000,
        "DataStorageMB": 5,
        "FileStorageMB": 20,
        "SingleEmail": 15,
    }
    answer = {name: {"Max": most, "Remaining": most} for name, most in fixed.items()}
    answer["DailyApiRequests"] = {"Max": daily, "Remaining": max(daily - used, 0)}
    return dict(sorted(answer.items()))
