"""Pure protocol adapters: ``bytes -> typed values``, no I/O, no clocks."""
