"""Lifecycle events: append-only, hash-chained per battery, Merkle roots anchored on chain.

- `service`: `record_event` (manufactured, placed on market, repaired, accident, waste),
  `install_battery`, `remove_battery`, `swap_battery`, `transfer_ownership`,
  `start_second_life` (repurposed / re-used / remanufactured → a new linked passport),
  `recycle` (the passport ceases), `verify_chain`, `event_hash`.
- `anchoring`: `EventAnchorer` (runtime task), `event_proof(session, event_id)` →
  `EventProof` (`.verify()`, `.as_json()`), `check_on_chain(chain, proof)`.
- `export`: `export_sections(entitlements)` for battery exports, `erase_owner` erasure hook.
"""
