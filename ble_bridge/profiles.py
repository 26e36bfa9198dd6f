"""Profile registry: which decoder, requests and GATT layout a device id in the config uses.

``decode_capture`` is the one entry point from captured bytes/text to :class:`Measurements`,
shared by ``bpp-bridge decode``, the sessions and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ble_bridge.errors import (
    BadFrameError,
    BadHexError,
    BadLengthError,
    FrameError,
    UnsupportedError,
)
from ble_bridge.protocols import daly, elm327, hkmc, jbd, jk
from ble_bridge.protocols.hexinput import parse_hex, unescape_adapter_text
from ble_bridge.sample import Measurements, merge_all


class AdapterKind(StrEnum):
    """How the gateway talks to a device."""

    ELM327 = "elm327"
    JBD = "jbd"
    DALY = "daly"
    JK = "jk"


@dataclass(frozen=True, slots=True)
class Profile:
    """A named decoder: ELM327 + vehicle tables, or a BMS protocol."""

    id: str
    kind: AdapterKind
    description: str
    models: tuple[hkmc.VehicleModel, ...] = ()
    jk_layout: jk.JkLayout | None = None

    # The one CAN id replies come from when all models agree (filtering by id), else None.
    rx_id: int | None = field(init=False, compare=False, repr=False, default=None)

    def __post_init__(self) -> None:
        # Computed once: every decoded reply needs it.
        ids = {m.ecu_rx for m in self.models}
        object.__setattr__(self, "rx_id", ids.pop() if len(ids) == 1 else None)


PROFILES: dict[str, Profile] = {
    p.id: p
    for p in (
        Profile(
            "hkmc-ev",
            AdapterKind.ELM327,
            "Hyundai/Kia EV over ELM327, platform picked from the reply",
            (hkmc.GEN1, hkmc.EGMP),
        ),
        Profile("hkmc-gen1", AdapterKind.ELM327, hkmc.GEN1.name, (hkmc.GEN1,)),
        Profile("hkmc-egmp", AdapterKind.ELM327, hkmc.EGMP.name, (hkmc.EGMP,)),
        Profile("jbd", AdapterKind.JBD, "JBD / Xiaoxiang BMS"),
        Profile("daly", AdapterKind.DALY, "Daly BMS, legacy A5 and Modbus"),
        Profile("jk", AdapterKind.JK, "JK BMS, layout by sum of cells"),
        Profile("jk-24s", AdapterKind.JK, "JK BMS firmware < 11", jk_layout=jk.JkLayout.JK02_24S),
        Profile("jk-32s", AdapterKind.JK, "JK BMS firmware ≥ 11", jk_layout=jk.JkLayout.JK02_32S),
    )
}


def get_profile(profile_id: str) -> Profile:
    """The profile, or :class:`UnsupportedError` listing the known ones."""
    try:
        return PROFILES[profile_id]
    except KeyError:
        raise UnsupportedError(
            f"unknown profile {profile_id!r}; known: {', '.join(sorted(PROFILES))}"
        ) from None


def decode_elm_reply(text: str, request: bytes, profile: Profile) -> Measurements:
    """One prompt-framed ELM327 reply text to measurements (via the vehicle table)."""
    payload = elm327.reply_payload(text, request, rx_id=profile.rx_id)
    return hkmc.decode_payload(payload, hkmc.select_model(payload, profile.models))


def decode_capture(
    profile_id: str, chunks: Sequence[str], request: bytes | None = None
) -> Measurements:
    """Decode captured adapter output (or a bare payload) to one merged measurement set.

    ``chunks`` are pieces of one capture in order (e.g. notifications): hex for BMS profiles,
    ELM327 text for vehicle profiles (``\\r`` typed as two characters is accepted). Raises
    :class:`~ble_bridge.errors.FrameError` subclasses only.
    """
    profile = get_profile(profile_id)
    if profile.kind is AdapterKind.ELM327:
        return merge_all(_decode_elm(profile, chunks, request))
    data = b"".join(parse_hex(c) for c in chunks)
    return merge_all(_decode_bms(profile, data, request))


def _decode_elm(
    profile: Profile, chunks: Sequence[str], request: bytes | None
) -> list[Measurements]:
    text = unescape_adapter_text("".join(chunks))
    if any(ord(ch) > 0x7E or (ord(ch) < 0x20 and ch not in "\r\n\t") for ch in text):
        raise BadHexError("adapter output must be printable ASCII")
    if ">" not in text:
        text += "\r\r>"
    assembler = elm327.PromptReassembler()
    replies = [r for r in assembler.feed(text.encode("ascii")) if r.strip()]
    if not replies:
        raise BadLengthError("no adapter reply in the input")
    # Without --request any ReadDataByIdentifier reply is taken; the table checks the DID.
    req = request if request is not None else b"\x22"
    return [decode_elm_reply(r, req, profile) for r in replies]


_Decoder = Callable[[bytes], Measurements]


def _decode_bms(profile: Profile, data: bytes, request: bytes | None) -> list[Measurements]:
    if profile.kind is AdapterKind.DALY and len(data) == 8:
        if request is None:
            raise UnsupportedError("an 8-byte Daly payload needs --request (90, 93 or 94)")
        cmd = request[2] if len(request) >= 3 and request[0] == daly.LEGACY_START else request[0]
        return [daly.decode_legacy_payload(cmd, data)]
    assembler: jbd.JbdAssembler | daly.DalyAssembler | jk.JkAssembler
    decoder: _Decoder
    if profile.kind is AdapterKind.JBD:
        assembler, decoder = jbd.JbdAssembler(), jbd.decode_frame
    elif profile.kind is AdapterKind.DALY:
        assembler, decoder = daly.DalyAssembler(), daly.decode_frame
    else:
        layout = profile.jk_layout
        assembler = jk.JkAssembler()

        def decoder(frame: bytes) -> Measurements:
            return jk.decode_frame(frame, layout)

    frames = assembler.feed(data)
    if not frames:
        if profile.kind is AdapterKind.JK:
            start = data.find(jk.HEADER)
            if start >= 0:
                jk.verify(data[start : start + jk.FRAME_LEN])  # the precise reason
        raise BadLengthError(f"no complete {profile.id} frame in {len(data)} bytes")
    results: list[Measurements] = []
    first_error: FrameError | None = None
    for frame in frames:
        try:
            results.append(decoder(frame))
        except FrameError as exc:
            first_error = first_error or exc
    if not results:
        assert first_error is not None
        raise first_error
    return results


def parse_request(text: str | None) -> bytes | None:
    """``--request`` hex (``220101``, ``90``, a full BMS request frame) to bytes."""
    if text is None:
        return None
    data = parse_hex(text)
    if not data:
        raise BadFrameError("empty request")
    return data
