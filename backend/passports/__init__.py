"""Batteries and their passports.

- `attributes`: the 93 Annex XIII attributes as data (`ATTRIBUTES`, `BY_TERM`, groups, kinds,
  value validation); `attribute_table` is generated from `shared/passport-attributes.csv`.
- `service`: battery models (`register_model`, `update_model_attributes`), batteries
  (`register_battery_of_model`, `register_battery`, `set_item_attributes`,
  `record_measurements`), reads (`battery_attributes`, `readable_attributes(entitlements)`).
- `issuing`: `PassportIssuer.issue(session, principal, battery_id, PassportCredentialType)` —
  versioned `BatteryPassportCredential` / `BatteryConditionCredential`, re-issued on change.
- Errors: `errors.PassportCeasedError` (`PASSPORT_CEASED`) for writes to a ceased record.
"""
