#!/usr/bin/env python3
"""Checks that a PNG screenshot is not blank (stdlib only: zlib + the PNG filters).

Usage: png_not_blank.py FILE [MIN_NONWHITE_FRACTION]
Exits 1 if fewer than MIN_NONWHITE_FRACTION (default 0.02) of the pixels differ from white,
or if the image has fewer than 8 distinct colours.
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    path = sys.argv[1]
    need = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02
    w, h, bpp, rows = read_png(path)
    nonwhite, colours = 0, set()
    for line in rows:
        for x in range(0, w * bpp, bpp):
            px = line[x:x + 3]
            if px != b"\xff\xff\xff":
                nonwhite += 1
            if len(colours) < 4096:
                colours.add(px)
    frac = nonwhite / (w * h)
    print(f"{path}: {w}x{h}, {frac:.1%} non-white pixels, {len(colours)} colours")
    if frac < need or len(colours) < 8:
        print("BLANK: the rendered report shows (almost) nothing", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
