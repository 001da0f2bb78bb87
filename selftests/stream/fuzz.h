/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stream_fuzz input format, shared with gen_corpus:
 *
 *   byte 0       control: bits 0-3 = k, bits 4-5 = checksum fix-up mode
 *   bytes 1..k   write sizes, cycled: b < 0x80 -> b + 1 bytes,
 *                else (b - 0x7f) * 512 bytes
 *   the rest     the stream, fed to a decoder for FUZZ_TYPE_ID with
 *                FUZZ_NPAGES pages of VRAM
 *
 * The fix-up modes recompute checksums before decoding, so that mutations
 * reach the checks behind them: 0 none, 1 everything (SG_FIX_ALL),
 * 2 header and section CRCs, 3 those plus END's stream_crc.
 */
#ifndef _VSLICE_STREAM_FUZZ_H
#define _VSLICE_STREAM_FUZZ_H

#define FUZZ_TYPE_ID	1
#define FUZZ_NPAGES	16
#define FUZZ_FIX_SHIFT	4
#define FUZZ_FIX_ALL	1

#endif /* _VSLICE_STREAM_FUZZ_H */
