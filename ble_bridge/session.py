"""Thin async sessions: request/response over a notification link, decoded by the pure layer.

A session needs only :class:`Link` (write bytes, a queue of notifications, a "lost" flag), so
it runs the same over bleak, the simulator or a test double.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ble_bridge.errors import (
    FrameError,
    LinkError,
    LinkTimeoutError,
    NoDataError,
    ResponsePendingError,
)
from ble_bridge.profiles import AdapterKind, Profile
from ble_bridge.protocols import daly, elm327, hkmc, jbd, jk
from ble_bridge.sample import Measurements, RawFrame, merge_all


class Link(Protocol):
    """What a session needs from a connection."""

    notifications: asyncio.Queue[bytes]

    async def write(self, data: bytes) -> None:
        """Send bytes (chunked by the link as the MTU requires)."""

    @property
    def lost(self) -> bool:
        """True once the peripheral disconnected."""


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll: merged measurements, the exchanges kept for audit, non-fatal errors."""

    measurements: Measurements
    raw_frames: tuple[RawFrame, ...]
    errors: tuple[str, ...] = ()


@dataclass
class SessionTimeouts:
    """Seconds to wait; ELM327 replies to multi-frame UDS requests in 50-300 ms normally."""

    reply: float = 2.0
    init: float = 3.0
    pending_retries: int = 3
    pending_delay: float = 0.2


async def _next_notification(link: Link, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if link.lost:
        raise LinkError("peripheral disconnected")
    if remaining <= 0:
        raise LinkTimeoutError("no reply in time")
    try:
        return await asyncio.wait_for(link.notifications.get(), remaining)
    except TimeoutError:
        if link.lost:
            raise LinkError("peripheral disconnected during the reply") from None
        raise LinkTimeoutError("no reply in time") from None


@dataclass
class ElmSession:
    """ELM327 dialogue: never sends before the ``>`` prompt; one command at a time."""

    link: Link
    profile: Profile
    timeouts: SessionTimeouts = field(default_factory=SessionTimeouts)
    model: hkmc.VehicleModel | None = None
    _reassembler: elm327.PromptReassembler = field(default_factory=elm327.PromptReassembler)
    _replies: list[str] = field(default_factory=list)
    _at_prompt: bool = True

    async def _command(self, text: str, wait_s: float) -> str:
        if not self._at_prompt:
            await self._await_prompt(wait_s)
        # At the prompt, anything already received is unsolicited (a second prompt after
        # ATZ, bus chatter): drop it so the next reply is the one to this command.
        self._replies.clear()
        while not self.link.notifications.empty():
            self.link.notifications.get_nowait()
        self._reassembler.reset()
        self._at_prompt = False
        await self.link.write((text + "\r").encode("ascii"))
        reply = await self._reply(time.monotonic() + wait_s)
        self._at_prompt = True
        return reply

    async def _reply(self, deadline: float) -> str:
        while not self._replies:
            data = await _next_notification(self.link, deadline)
            try:
                self._replies += self._reassembler.feed(data)
            except FrameError:
                continue  # overflowing garbage was dropped; keep waiting for a prompt
        return self._replies.pop(0)

    async def _await_prompt(self, wait_s: float) -> None:
        # After a timeout the adapter may still be printing: wait for its prompt, and if it
        # never comes, a bare CR makes it print one (an interrupted command prints STOPPED).
        try:
            await self._reply(time.monotonic() + wait_s / 2)
        except LinkTimeoutError:
            await self.link.write(b"\r")
            await self._reply(time.monotonic() + wait_s / 2)
        self._replies.clear()
        self._at_prompt = True

    async def initialise(self) -> None:
        """Run the AT initialisation (reset, echo off, headers on, protocol, header/filter)."""
        self._reassembler.reset()
        self._replies.clear()
        ecu = self.profile.models[0]
        for cmd in elm327.init_sequence(tx_id=ecu.ecu_tx, rx_id=ecu.ecu_rx):
            reply = await self._command(cmd.text, self.timeouts.init)
            elm327.check_at_reply(cmd, reply)

    async def query(self, request: bytes) -> tuple[bytes, str]:
        """Send one UDS request; returns (positive payload, reply text); retries on 7F xx 78."""
        rx_id = self.profile.rx_id
        for attempt in range(self.timeouts.pending_retries + 1):
            text = await self._command(request.hex().upper(), self.timeouts.reply)
            try:
                return elm327.parse_uds_reply(text, request, rx_id=rx_id).payload, text
            except ResponsePendingError:
                if attempt == self.timeouts.pending_retries:
                    raise
                await asyncio.sleep(self.timeouts.pending_delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def poll(self) -> PollResult:
        """Read every table of the vehicle model; a failing cell page is skipped and noted."""
        first = hkmc.GEN1.poll_order[0]
        payload, text = await self.query(first)  # NoData here: the car is asleep
        model = self.model or hkmc.select_model(payload, self.profile.models)
        self.model = model
        parts = [hkmc.decode_payload(payload, model)]
        frames = [RawFrame(first.hex(), text.encode("ascii", "replace").hex())]
        errors: list[str] = []
        for request in model.poll_order[1:]:
            try:
                payload, text = await self.query(request)
                parts.append(hkmc.decode_payload(payload, model))
                frames.append(RawFrame(request.hex(), text.encode("ascii", "replace").hex()))
            except FrameError as exc:
                if isinstance(exc, NoDataError) and request == model.poll_order[1]:
                    raise  # the car went to sleep between the first two requests
                # A missing cell page (NRC on some models, a garbled reply) does not spoil
                # the rest of the poll: it is noted in the sample's errors.
                errors.append(f"{request.hex()}: {exc.code}")
        return PollResult(merge_all(parts), tuple(frames), tuple(errors))


_Assembler = jbd.JbdAssembler | daly.DalyAssembler | jk.JkAssembler


@dataclass
class BmsSession:
    """JBD / Daly / JK request-response (JK streams cell info after one request)."""

    link: Link
    profile: Profile
    timeouts: SessionTimeouts = field(default_factory=SessionTimeouts)
    daly_legacy: bool = False

    def __post_init__(self) -> None:
        self._assembler: _Assembler
        if self.profile.kind is AdapterKind.JBD:
            self._assembler = jbd.JbdAssembler()
        elif self.profile.kind is AdapterKind.DALY:
            self._assembler = daly.DalyAssembler()
        else:
            self._assembler = jk.JkAssembler()
        self._frames: list[bytes] = []

    async def initialise(self) -> None:
        """Drain stale notifications; JK needs its device-info request first."""
        while not self.link.notifications.empty():
            self.link.notifications.get_nowait()
        self._assembler.reset()
        if self.profile.kind is AdapterKind.JK:
            await self.link.write(jk.REQUEST_DEVICE_INFO)

    async def _exchange(self, request: bytes, accept: Callable[[bytes], bool]) -> bytes:
        # Whatever arrived since the last exchange is stale (a JK streams cell info about
        # once a second): start from an empty buffer so the answer is fresh.
        while not self.link.notifications.empty():
            self.link.notifications.get_nowait()
        self._assembler.reset()
        self._frames = []
        await self.link.write(request)
        deadline = time.monotonic() + self.timeouts.reply
        while True:
            for i, frame in enumerate(self._frames):
                if accept(frame):
                    del self._frames[: i + 1]  # older unsolicited frames go too
                    return frame
            self._frames += self._assembler.feed(await _next_notification(self.link, deadline))

    async def poll(self) -> PollResult:
        """Request and decode one complete reading."""
        requests: list[tuple[bytes, Callable[[bytes], bool], Callable[[bytes], Measurements]]]
        kind = self.profile.kind
        if kind is AdapterKind.JBD:
            requests = [
                (jbd.REQUEST_BASIC, lambda f: f[1:2] == b"\x03", jbd.decode_frame),
                (jbd.REQUEST_CELLS, lambda f: f[1:2] == b"\x04", jbd.decode_frame),
            ]
        elif kind is AdapterKind.DALY and self.daly_legacy:
            requests = [
                (daly.build_legacy_request(c), _daly_cmd(c), daly.decode_frame)
                for c in (daly.CMD_SOC, daly.CMD_MOSFET, daly.CMD_STATUS)
            ]
        elif kind is AdapterKind.DALY:
            requests = [
                (daly.REQUEST_MODBUS_INFO, lambda f: f[:2] == b"\xd2\x03", daly.decode_frame)
            ]
        else:
            layout = self.profile.jk_layout
            requests = [
                (
                    jk.REQUEST_CELL_INFO,
                    lambda f: f[4] == jk.TYPE_CELL_INFO,
                    lambda f: jk.decode_frame(f, layout),
                )
            ]
        parts: list[Measurements] = []
        frames: list[RawFrame] = []
        for request, accept, decode in requests:
            frame = await self._exchange(request, accept)
            parts.append(decode(frame))
            frames.append(RawFrame(request.hex(), frame.hex()))
        return PollResult(merge_all(parts), tuple(frames))


def _daly_cmd(cmd: int) -> Callable[[bytes], bool]:
    return lambda f: f[:1] == b"\xa5" and f[2] == cmd


Session = ElmSession | BmsSession
SessionFactory = Callable[[Link, Profile], Awaitable[Session]]


def make_session(link: Link, profile: Profile, timeouts: SessionTimeouts | None = None) -> Session:
    """The session class for a profile."""
    t = timeouts or SessionTimeouts()
    if profile.kind is AdapterKind.ELM327:
        return ElmSession(link, profile, t)
    return BmsSession(link, profile, t)
