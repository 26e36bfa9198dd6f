"""GATT layouts of the supported adapters: which service to find, where to listen and write."""

from __future__ import annotations

from dataclasses import dataclass

from bleak.uuids import normalize_uuid_str


@dataclass(frozen=True, slots=True)
class GattLayout:
    """Service and characteristics of one adapter family.

    ``write_response`` is passed explicitly to every write: many clones advertise both write
    kinds but only work with one, and bleak's guess from the properties is not reliable.
    """

    id: str
    service: str
    notify: str
    write: str
    write_response: bool = False

    def normalised(self) -> GattLayout:
        """The same layout with 128-bit UUID strings."""
        return GattLayout(
            self.id,
            normalize_uuid_str(self.service),
            normalize_uuid_str(self.notify),
            normalize_uuid_str(self.write),
            self.write_response,
        )


# ELM327-compatible OBD-II dongles. The vLinker, ISSC and WiCAN UUIDs are the ones the vendors'
# apps use publicly; each is one table row, so a wrong guess is a one-line fix.
ELM327_LAYOUTS: tuple[GattLayout, ...] = tuple(
    g.normalised()
    for g in (
        GattLayout("elm-fff0", "fff0", "fff1", "fff2"),
        GattLayout("elm-ffe0", "ffe0", "ffe1", "ffe1"),
        GattLayout("vgate-18f0", "18f0", "2af0", "2af1"),
        GattLayout(
            "vlinker",
            "e7810a71-73ae-499d-8c15-faa9aef0c3f2",
            "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
            "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
        ),
        GattLayout(
            "issc",
            "49535343-fe7d-4ae5-8fa9-9fafd205e455",
            "49535343-1e4d-4bd9-ba61-23c647249616",
            "49535343-8841-43f4-a8d4-ecbe34729bb3",
        ),
        GattLayout("wican-fee0", "fee0", "fee1", "fee1"),
    )
)

JBD_LAYOUT = GattLayout("jbd", "ff00", "ff01", "ff02", write_response=False).normalised()
DALY_LAYOUT = GattLayout("daly", "fff0", "fff1", "fff2", write_response=False).normalised()
JK_LAYOUT = GattLayout("jk", "ffe0", "ffe1", "ffe1", write_response=False).normalised()

ALL_LAYOUTS: dict[str, GattLayout] = {
    g.id: g for g in (*ELM327_LAYOUTS, JBD_LAYOUT, DALY_LAYOUT, JK_LAYOUT)
}


def layout_for_services(candidates: tuple[GattLayout, ...], services: set[str]) -> GattLayout:
    """The first candidate whose service the peripheral offers (UUIDs normalised)."""
    for layout in candidates:
        if layout.service in services:
            return layout
    raise KeyError(f"none of {', '.join(c.id for c in candidates)} offered")
