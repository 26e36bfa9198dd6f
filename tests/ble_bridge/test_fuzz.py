"""Fuzzing: arbitrary input never raises anything but the typed frame errors, never hangs."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ble_bridge.errors import FrameError
from ble_bridge.profiles import PROFILES, decode_capture
from ble_bridge.protocols import daly, elm327, hkmc, jbd, jk
from ble_bridge.sample import Measurements
from tests.ble_bridge.conftest import BMS_VECTORS, HKMC_VECTORS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(300)

# Pieces an ELM327 reply is made of, so that the fuzzer reaches the deep parsing paths.
ELM_TOKENS = st.sampled_from(
    [
        "7EC", "7ED", "10", "3E", "21", "22", "2F", "03", "7F", "22", "78", "12", "62", "01",
        "0:", "1:", "F:", "03E", "AA", "FF", "\r", "\r\r", ">", " ", "NO DATA", "?", "SEARCHING...",
        "CAN ERROR", "OK", "ERR94", "\x00", "0", "A", "\n",
    ]
)  # fmt: skip
elm_text = st.lists(ELM_TOKENS, max_size=80).map("".join)


def _only_typed(fn: object, *args: object) -> None:
    try:
        result = fn(*args)  # type: ignore[operator]
    except FrameError:
        return
    if isinstance(result, Measurements):
        result.to_json()


@FUZZ
@given(st.binary(max_size=400))
def test_bms_decoders_raise_only_typed_errors(data: bytes) -> None:
    for decode in (jbd.decode_frame, daly.decode_frame, jk.decode_frame):
        _only_typed(decode, data)


@FUZZ
@given(st.binary(max_size=120))
def test_hkmc_tables_raise_only_typed_errors(data: bytes) -> None:
    for model in hkmc.MODELS.values():
        _only_typed(hkmc.decode_payload, data, model)
        _only_typed(hkmc.decode_payload, b"\x62\x01" + data, model)


def _vector_frames() -> list[bytes]:
    return [bytes.fromhex(v["response_hex"]) for v in BMS_VECTORS if "response_hex" in v]


def _refresh_checksum(frame: bytes) -> bytes:
    """Recompute the checksum of a mutated frame so the decoder goes past it."""
    if frame[:1] == b"\xdd" and len(frame) >= 7:
        return frame[:-3] + jbd.checksum(frame[2:-3]).to_bytes(2, "big") + frame[-1:]
    if frame[:4] == jk.HEADER:
        return frame[:-1] + bytes([jk.sum8(frame[:-1])])
    if frame[:1] == b"\xa5":
        return frame[:-1] + bytes([daly.sum8(frame[:-1])])
    if frame[:1] == b"\xd2":
        return frame[:-2] + daly.crc16_modbus(frame[:-2]).to_bytes(2, "little")
    return frame


@FUZZ
@given(
    st.sampled_from(_vector_frames()),
    st.lists(st.tuples(st.integers(0), st.binary(min_size=1, max_size=4))),
)
def test_mutated_valid_frames_raise_only_typed_errors(
    frame: bytes, edits: list[tuple[int, bytes]]
) -> None:
    buf = bytearray(frame)
    for pos, patch in edits:
        i = pos % len(buf)
        buf[i : i + len(patch)] = patch
    mutated = _refresh_checksum(bytes(buf))
    for decode in (jbd.decode_frame, daly.decode_frame, jk.decode_frame):
        _only_typed(decode, mutated)


@FUZZ
@given(st.lists(st.binary(max_size=40), max_size=30))
def test_assemblers_terminate_and_return_whole_frames(chunks: list[bytes]) -> None:
    assemblers = (jbd.JbdAssembler(), daly.DalyAssembler(), jk.JkAssembler())
    for assembler in assemblers:
        for chunk in chunks:
            for frame in assembler.feed(chunk):
                assert frame  # frames are never empty
    # A valid frame after garbage (without start bytes) is still found: resynchronisation.
    good_jbd = bytes.fromhex(BMS_VECTORS[0]["response_hex"])
    good_jk = bytes.fromhex(BMS_VECTORS[-1]["response_hex"])
    a, k = jbd.JbdAssembler(), jk.JkAssembler()
    for chunk in chunks:
        a.feed(chunk.replace(b"\xdd", b"\x00"))
        k.feed(chunk)
    assert a.feed(good_jbd) == [good_jbd]
    assert k.feed(good_jk)[-1:] == [good_jk]


@FUZZ
@given(st.lists(st.binary(max_size=30), max_size=30), elm_text)
def test_elm_reassembler_and_parser_raise_only_typed_errors(chunks: list[bytes], text: str) -> None:
    r = elm327.PromptReassembler(max_text=2000)
    replies: list[str] = []
    for chunk in [*chunks, text.encode("ascii")]:
        try:
            replies += r.feed(chunk)
        except FrameError:
            continue
    for reply in [*replies, text]:
        for rx_id in (0x7EC, None):
            with contextlib.suppress(FrameError):
                elm327.parse_uds_reply(reply, bytes.fromhex("220101"), rx_id=rx_id)


@FUZZ
@given(st.sampled_from(sorted(PROFILES)), st.text(max_size=200), elm_text)
def test_decode_capture_raises_only_typed_errors(profile: str, text: str, elm: str) -> None:
    for chunk in (text, elm):
        with contextlib.suppress(FrameError):
            decode_capture(profile, [chunk])


@FUZZ
@given(
    st.sampled_from([v for v in HKMC_VECTORS if "elm_raw" in v]),
    st.integers(0, 400),
    st.sampled_from(["\r", "7F2212\r", "NO DATA", "?", ":", "0:", "AA", "\x00", ">"]),
)
def test_corrupted_recorded_adapter_output_raises_only_typed_errors(
    vector: dict[str, str], pos: int, insert: str
) -> None:
    raw = vector["elm_raw"]
    i = pos % (len(raw) + 1)
    with contextlib.suppress(FrameError):
        decode_capture("hkmc-ev", [raw[:i] + insert + raw[i:]])
