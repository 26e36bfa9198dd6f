"""BLE bridge: collect EV battery data from Bluetooth OBD-II (ELM327) and BMS adapters.

Layers, from the bytes up:

* ``protocols/`` — pure decoders (``bytes -> typed values``): ELM327 framing and ISO-TP,
  the Hyundai/Kia EV profile tables, JBD, Daly and JK BMS frames.
* ``sample`` — the normalised :class:`~ble_bridge.sample.Measurements` (SI units, current
  positive = charging) and the uploaded :class:`~ble_bridge.sample.BatterySample`.
* ``transport`` / ``session`` — a thin async shell on bleak.
* ``simulator`` — a fake bleak backend with scripted peripherals and fault injection.
* ``outbox`` / ``uploader`` — durable SQLite outbox and signed GraphQL batch uploads.

This package never imports ``backend`` or ``graphql_schema``.
"""
