"""Child process for the crash tests: append and upload samples, SIGKILL itself at a point.

``python -m tests.ble_bridge.outbox_child --db F --key F --url U --count N
[--crash POINT --crash-at K]``: appends samples until the outbox has numbered ``count`` of them,
draining to the server every three appends, then drains everything. With ``--crash``, the
process kills itself with SIGKILL the K-th time the outbox/uploader reaches POINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import Outbox
from ble_bridge.profiles import decode_capture
from ble_bridge.sample import BatterySample, ClockSource, RawFrame
from ble_bridge.uploader import Backoff, Uploader

JBD_FRAME = "dd03001d0618fee101f201f4002a2c7c00000000000080640304030b8b0b8a0b84f88477"


def sample(i: int) -> BatterySample:
    """A sample from the recorded JBD frame."""
    return BatterySample(
        source_id=f"pack-{i % 2}",
        source_address="SIM:JB:D0:00:00:02",
        adapter_id="jbd",
        profile_id="jbd",
        measurements=decode_capture("jbd", [JBD_FRAME]),
        raw_frames=(RawFrame("dda50300fffd77", JBD_FRAME),),
        monotonic_ns=time.monotonic_ns(),
        boot_id="child",
        wall_time_ms=time.time_ns() // 1_000_000,
        clock_source=ClockSource.SYSTEM,
    )


async def main() -> None:
    """Run as described in the module docstring."""
    p = argparse.ArgumentParser()
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--crash")
    p.add_argument("--crash-at", type=int, default=1)
    args = p.parse_args()
    hits = 0

    def checkpoint(name: str) -> None:
        nonlocal hits
        if name == args.crash:
            hits += 1
            if hits == args.crash_at:
                os.kill(os.getpid(), signal.SIGKILL)

    outbox = Outbox(args.db, DeviceKey.load(args.key), checkpoint=checkpoint)
    async with httpx.AsyncClient(timeout=5) as client:
        uploader = Uploader(
            outbox,
            args.url,
            client,
            max_batch=4,
            backoff=Backoff(0.01, 0.05),
            checkpoint=checkpoint,
        )
        while outbox.status().last_sequence < args.count:
            seq = outbox.append(sample(outbox.status().last_sequence))
            if seq % 3 == 0:
                await uploader.drain()
        while outbox.status().pending_samples:
            if not await uploader.drain():
                await asyncio.sleep(uploader.backoff.next_delay())
    outbox.close()


if __name__ == "__main__":
    asyncio.run(main())
