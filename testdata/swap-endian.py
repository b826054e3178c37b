#!/usr/bin/env python3
"""Convert an UNCOMPRESSED little-endian dump 0.4b47 archive to big-endian.

Usage: swap-endian.py IN.dump OUT.dump

Produces what dump on a big-endian machine would have written for the same
filesystem, so restore's byte-swapping path ("Note: Doing Byte swapping") can
be tested on a little-endian host.

What is swapped (layout of union u_spcl / struct s_spcl, dumprestore.h):
  * every header (TP_BSIZE = 1024 bytes, magic NFS_MAGIC 60012):
      offset   0  8 x int32   c_type .. c_checksum
      offset  32  4 x u16     di_mode, di_nlink, di_ouid, di_ogid
      offset  40  1 x u64     di_size
      offset  48 28 x int32   times, di_db, di_ib, flags, blocks, gen, uid, gid, spare
      offset 160  1 x int32   c_count
      offset 164  512 bytes   c_addr (bytes; but c_inos = 128 x int32 on TS_TAPE/TS_END
                              when DR_INODEINFO is set)
      offset 676  16 bytes    c_label
      offset 692  1 x int32   c_level
      offset 696  192 bytes   c_filesys, c_dev, c_host
      offset 888  34 x int32  c_flags, c_firstrec, c_ntrec, c_extattributes, c_spare[30]
    and the checksum is recomputed so the 256 big-endian int32 words sum to 84446.
  * directory data blocks: d_ino (u32) and d_reclen (u16) of each BSD
    `struct direct` entry, walked in DIRBLKSIZ (512) chunks like restore does.
Everything else (file data, bitmaps, xattr blocks, which are in ext2's
little-endian on-disk format on every host) is copied unchanged.
"""

import struct
import sys

TP_BSIZE = 1024
DIRBLKSIZ = 512
NFS_MAGIC = 60012
CHECKSUM = 84446

TS_TAPE, TS_INODE, TS_BITS, TS_ADDR, TS_END, TS_CLRI = 1, 2, 3, 4, 5, 6
DR_INODEINFO = 0x0002
DR_COMPRESSED = 0x0080
DR_EXTATTRIBUTES = 0x8000
S_IFMT, S_IFDIR = 0o170000, 0o040000

# (offset, struct format char, count) of every multi-byte field in s_spcl.
HEADER_FIELDS = [
    (0, "i", 8),
    (32, "H", 4),
    (40, "Q", 1),
    (48, "i", 28),
    (160, "i", 1),
    (692, "i", 1),
    (888, "i", 34),
]
C_DATA_OFF = 164


class DumpError(Exception):
    pass


def swap_fields(src, dst, off, fmt, count):
    vals = struct.unpack_from("<%d%s" % (count, fmt), src, off)
    struct.pack_into(">%d%s" % (count, fmt), dst, off, *vals)


def swap_header(blk, index):
    """Return (big-endian header bytes, parsed little-endian fields)."""
    (c_type, _date, _ddate, _vol, _tapea, _ino, magic, _ck) = struct.unpack_from("<8i", blk, 0)
    if magic != NFS_MAGIC:
        raise DumpError("block %d: expected a header (magic %d), found magic %d" % (index, NFS_MAGIC, magic))
    if sum(struct.unpack("<256i", blk)) & 0xFFFFFFFF != CHECKSUM:
        raise DumpError("block %d: header checksum is wrong in the input" % index)
    (mode,) = struct.unpack_from("<H", blk, 32)
    (size,) = struct.unpack_from("<Q", blk, 40)
    (count,) = struct.unpack_from("<i", blk, 160)
    (flags,) = struct.unpack_from("<i", blk, 888)
    if flags & DR_COMPRESSED:
        raise DumpError("compressed dumps are not supported; dump without -z/-j")

    out = bytearray(blk)
    for off, fmt, n in HEADER_FIELDS:
        swap_fields(blk, out, off, fmt, n)
    if c_type in (TS_TAPE, TS_END) and flags & DR_INODEINFO:
        swap_fields(blk, out, C_DATA_OFF, "i", 128)  # c_inos volume table

    struct.pack_into(">i", out, 28, 0)
    total = sum(struct.unpack(">256i", out))
    struct.pack_into(">I", out, 28, (CHECKSUM - total) & 0xFFFFFFFF)
    assert sum(struct.unpack(">256i", out)) & 0xFFFFFFFF == CHECKSUM

    if c_type in (TS_BITS, TS_CLRI):
        nblocks = count
    elif c_type == TS_END:
        nblocks = 0
    else:
        if not 0 <= count <= 512:
            raise DumpError("block %d: c_count %d out of range" % (index, count))
        nblocks = sum(1 for b in blk[C_DATA_OFF:C_DATA_OFF + count] if b != 0)
    is_dir_data = (c_type in (TS_INODE, TS_ADDR) and (mode & S_IFMT) == S_IFDIR
                   and not flags & DR_EXTATTRIBUTES)
    return bytes(out), c_type, size, nblocks, is_dir_data


def swap_dir_block(blk, length):
    """Swap d_ino/d_reclen of the BSD dirents in the first `length` bytes."""
    out = bytearray(blk)
    for chunk in range(0, length, DIRBLKSIZ):
        end = min(chunk + DIRBLKSIZ, length)
        loc = chunk
        while loc + 8 <= end:
            d_ino, reclen = struct.unpack_from("<IH", blk, loc)
            if reclen == 0 or reclen & 3 or loc + reclen > chunk + DIRBLKSIZ:
                break  # restore skips the rest of a mangled chunk too
            struct.pack_into(">IH", out, loc, d_ino, reclen)
            loc += reclen
    return bytes(out)


def convert(data):
    if len(data) % TP_BSIZE:
        raise DumpError("input length %d is not a multiple of %d" % (len(data), TP_BSIZE))
    nblk = len(data) // TP_BSIZE
    out = bytearray()
    i = 0
    dir_remaining = 0
    while i < nblk:
        blk = data[i * TP_BSIZE:(i + 1) * TP_BSIZE]
        (magic,) = struct.unpack_from("<i", blk, 24)
        if magic != NFS_MAGIC and all(b == 0 for b in blk):
            out += blk  # padding of the last tape record
            i += 1
            continue
        hdr, c_type, size, nblocks, is_dir = swap_header(blk, i)
        out += hdr
        i += 1
        if c_type == TS_INODE:
            dir_remaining = size if is_dir else 0
        for _ in range(nblocks):
            if i >= nblk:
                raise DumpError("truncated: header announced %d data blocks" % nblocks)
            dblk = data[i * TP_BSIZE:(i + 1) * TP_BSIZE]
            if is_dir:
                n = min(TP_BSIZE, dir_remaining)
                dir_remaining -= n
                dblk = swap_dir_block(dblk, n)
            out += dblk
            i += 1
    return bytes(out)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: swap-endian.py IN.dump OUT.dump\n")
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    try:
        converted = convert(data)
    except DumpError as e:
        sys.stderr.write("swap-endian.py: %s: %s\n" % (argv[1], e))
        return 1
    with open(argv[2], "wb") as f:
        f.write(converted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
