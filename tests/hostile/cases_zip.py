"""Hostile .zip downloads: zip slip, bombs, encryption, links, two exports, nested archives.

Every archive is made here, in a few milliseconds; the encrypted one with real ZipCrypto, so
Python's own zipfile can open it with the password.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

from conftest import write_export
from harness import Case, registrar

CASES: list[Case] = []
case = registrar(CASES, "zip")

ARGS = ["--model", "m.zip", "-o", "dist"]
SLIP = "\\(a 'zip slip' archive\\); refusing to read it"


def export_members(project: Path) -> dict[str, bytes]:
    """The three files of a small valid export, by name."""
    folder = write_export(project.parent / "source")
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def write_zip(path: Path, members: dict[str, bytes], level: int = 6) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def valid_with(project: Path, name: str, data: bytes = b"x") -> list[str]:
    """A valid export plus one hostile member."""
    write_zip(project / "m.zip", {**export_members(project), name: data})
    return ARGS


@case("slip-parent", "m.zip: ", f"member '../../evil.txt' contains '..'.*{SLIP}")
def zip_slip_parent(project: Path) -> list[str]:
    return valid_with(project, "../../evil.txt")


@case("slip-absolute", "m.zip: ", f"member '/tmp/evil.txt' is an absolute path {SLIP}")
def zip_slip_absolute(project: Path) -> list[str]:
    return valid_with(project, "/tmp/evil.txt")


@case("slip-backslash", "m.zip: ", f"member '..\\\\evil.txt' contains a backslash {SLIP}")
def zip_slip_backslash(project: Path) -> list[str]:
    return valid_with(project, "..\\evil.txt")


@case("bomb", "m.zip: ", "member 'weights.bin' would unpack to 67,108,864 bytes \\(a zip bomb")
def zip_bomb(project: Path) -> list[str]:
    # 64 MiB of zeros deflate to 64 KiB: refused from the header, before any is unpacked.
    members = export_members(project)
    members["weights.bin"] = bytes(64 * 1024 * 1024)
    write_zip(project / "m.zip", members, level=9)
    return ARGS


@case("bomb-lying-header", "m.zip:model.json: ", "damaged zip member .*download the export")
def zip_bomb_lying_header(project: Path) -> list[str]:
    # The central directory claims 100 bytes; the deflated data holds 20 MiB. Only what the
    # header promised may come out.
    path = write_zip(project / "m.zip", {"model.json": bytes(20 * 1024 * 1024)}, level=9)
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 100)  # uncompressed size
    path.write_bytes(bytes(data))
    return ARGS


@case("damaged-deflate", "m.zip:model.json: ", "damaged zip member \\(Error -3 .*\\); download")
def damaged_deflate(project: Path) -> list[str]:
    path = write_zip(project / "m.zip", export_members(project))
    with zipfile.ZipFile(path) as archive:
        start = archive.getinfo("model.json").header_offset + 30 + len("model.json")
    data = bytearray(path.read_bytes())
    data[start] = 0x07  # a deflate block of the reserved type: the stream cannot be decoded
    path.write_bytes(bytes(data))
    return ARGS


@case("encrypted", "m.zip: ", "member 'metadata.json' is encrypted; export the model .* again")
def zip_encrypted(project: Path) -> list[str]:
    members = export_members(project)
    path = encrypted_zip(project / "m.zip", members, b"secret")
    with zipfile.ZipFile(path) as archive:  # really encrypted: it opens with the password
        assert archive.read("model.json", pwd=b"secret") == members["model.json"]
    return ARGS


@case("symlink-member", "m.zip: ", "member 'weights.bin' is a symbolic link; .*")
def zip_symlink_member(project: Path) -> list[str]:
    members = export_members(project)
    del members["weights.bin"]
    path = write_zip(project / "m.zip", members)
    link = zipfile.ZipInfo("weights.bin")
    link.create_system = 3  # unix, so the mode bits below mean what they say
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    return ARGS


@case("duplicate-member", "m.zip: ", "member 'model.json' appears twice; download the export")
def duplicate_member(project: Path) -> list[str]:
    # Which copy a tool reads differs between tools: what is checked might not be what is used.
    path = write_zip(project / "m.zip", export_members(project))
    with zipfile.ZipFile(path, "a") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive.writestr("model.json", b"{}")
    return ARGS


@case("two-exports", "m.zip: ", "holds 2 exports .*; point model.path at the one you want")
def zip_two_exports(project: Path) -> list[str]:
    members = export_members(project)
    both = {f"{folder}/{name}": data for folder in "ab" for name, data in members.items()}
    write_zip(project / "m.zip", both)
    return ARGS


@case("nested", "m.zip: ", "holds no model.json but another .zip; unzip the outer archive")
def zip_nested(project: Path) -> list[str]:
    inner = write_zip(project.parent / "inner.zip", export_members(project))
    write_zip(project / "m.zip", {"tm-export.zip": inner.read_bytes()})
    return ARGS


@case("truncated", "m.zip: ", "not a readable zip file.*download the export .* again")
def zip_truncated(project: Path) -> list[str]:
    path = write_zip(project / "m.zip", export_members(project))
    path.write_bytes(path.read_bytes()[:3000])
    return ARGS


@case("empty", "m.zip: ", "no model.json found; in Teachable Machine use Export Model")
def zip_empty(project: Path) -> list[str]:
    write_zip(project / "m.zip", {})
    return ARGS


@case("too-many-members", "m.zip: ", "holds 10,001 files; an export has three")
def zip_too_many_members(project: Path) -> list[str]:
    write_zip(project / "m.zip", {f"{index}.txt": b"" for index in range(10_001)})
    return ARGS


@case("keras", "m.zip: ", "holds a Keras model.*tensorflowjs_converter --input_format keras")
def zip_keras(project: Path) -> list[str]:
    members = {"keras_model.h5": b"\x89HDF\r\n\x1a\n", "labels.txt": b"0 cat\n1 dog\n"}
    write_zip(project / "m.zip", members)
    return ARGS


@case("forged-name", r"m.zip:x\rError: ok\x1b[2K/model.json: ", "invalid JSON")
def zip_forged_name(project: Path) -> list[str]:
    # A member name that would overwrite the line and clear it on a terminal if shown raw.
    write_zip(project / "m.zip", {"x\rError: ok\x1b[2K/model.json": b"{"})
    return ARGS


# ---- ZipCrypto, the "traditional PKWARE encryption" zip tools use for -P ------------------


def _crc_update(crc: int, byte: int) -> int:
    # One step of the raw CRC-32 that ZipCrypto keys use (zlib's crc32 inverts in and out).
    return zlib.crc32(bytes([byte]), crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


class _ZipCrypto:
    def __init__(self, password: bytes):
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = _crc_update(k0, byte)
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = _crc_update(k2, k1 >> 24)
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def encrypted_zip(path: Path, members: dict[str, bytes], password: bytes) -> Path:
    """Write stored members encrypted with ZipCrypto, as `zip -P password` does."""
    body, central = bytearray(), bytearray()
    for name, data in members.items():
        crc = zlib.crc32(data)
        # 12 header bytes; the last is the CRC's high byte, which unzip checks the password by.
        payload = _ZipCrypto(password).encrypt(bytes(11) + bytes([crc >> 24]) + data)
        raw = name.encode()
        # version, flags (bit 0: encrypted), stored, time, date (1980-01-01), crc, sizes
        fields = (20, 0x1, 0, 0, 0x21, crc, len(payload), len(data))
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, len(raw), 0) + raw + payload
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, len(raw), 0, 0, 0, 0, 0, offset
        )
        central += raw
    count = len(members)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(body), 0)
    path.write_bytes(bytes(body + central + end))
    return path


# Only regular files are read: a device never ends, a FIFO blocks until someone writes.
NOT_REGULAR = "not a regular file \\(a device or a pipe\\); point model.path at the folder"


@case("dev-zero", "/dev/zero: ", NOT_REGULAR)
def dev_zero(project: Path) -> list[str]:
    return ["--model", "/dev/zero", "-o", "dist"]


# site.yaml paths are resolved, so the message names the device the link points at.
@case("link-to-dev-zero", "/dev/zero: ", NOT_REGULAR)
def link_to_dev_zero(project: Path) -> list[str]:
    (project / "m.zip").symlink_to("/dev/zero")
    return ARGS


@case("fifo", "m.zip: ", NOT_REGULAR)
def fifo(project: Path) -> list[str]:
    os.mkfifo(project / "m.zip")
    return ARGS


@case("version-from-the-future", "m.zip: ", "not a readable zip file \\(zip file version 9.9\\)")
def version_from_the_future(project: Path) -> list[str]:
    # One damaged byte (found by tests/test_fuzz.py): zipfile raises NotImplementedError.
    path = write_zip(project / "m.zip", export_members(project))
    data = bytearray(path.read_bytes())
    data[data.index(b"PK\x01\x02") + 6] = 99  # the central directory's "version needed"
    path.write_bytes(bytes(data))
    return ARGS
