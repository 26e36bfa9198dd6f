"""Telemetry from BLE gateways: devices, signed-batch ingest, retention, derived data.

Public API: `devices.register_device / rotate_device_key / revoke_device / list_devices`,
`ingest.ingest_batch` (docs/BRIDGE.md's server rules), `compaction.compact` (retention),
`service.battery_telemetry` (last known state, SoC/temperature histograms, full cycles,
deep-discharge and overcharge events, hourly aggregates).
"""
