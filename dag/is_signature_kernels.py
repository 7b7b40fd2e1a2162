"""The per-post loops of the IS signatures, compiled with numba (`dag.is_signatures` has the rules
and the driver; this module only runs them).

Why compiled loops: a post's SimHash and MinHash are a few passes over its ~100 shingle hashes
and its 128 slots, which fit in the CPU's first-level cache; array programs over the whole batch
(numpy) stream every intermediate through memory instead and cost ~5x more. The kernels release
the interpreter (`nogil`), so the driver runs slices of the rows in threads.

Imported only when posts are signed, as numba has a cost per process: its import and loading
the cached machine code take ~0.5 s and ~170 MiB of resident memory (LLVM) in the first signing
call of a process (measured 2026-12-07); the first call after an install compiles for ~4 s and
caches the code in `__pycache__` (`cache=True`; set `NUMBA_CACHE_DIR` where the package
directory is read-only). Against that, 100,000 posts sign in ~0.09 s instead of ~0.5 s.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NUM_SLOTS = 128
EMPTY = np.uint64(2**64 - 1)  # a slot no item reached (values are < 2^57)
SLOT_SHIFT = np.uint64(57)  # the top 7 bits of a hash pick its slot
VALUE_MASK = np.uint64(2**57 - 1)  # the low 57 bits are its value
# Rows of at most this many items (galleries, embeds, very short posts) are sketched straight
# from the items (`_minhash_few`: a vectorised pass over the 128 slots per item) rather than
# through a slot table whose empty slots walk their probe order (~127 / (f + 1) random reads
# each for f filled slots); a power of two, as an item's position is kept in its keys' low bits.
FEW_ITEMS = 16
_ITEM_BITS = np.int16(4)
_ITEM_MASK = np.int16(FEW_ITEMS - 1)
_LANES = np.uint64(0x0101010101010101)  # one bit in each byte
_BYTE = np.uint64(0xFF)
_RUN = 255  # items summed in 8-bit lanes before they are flushed (a lane holds <= 255)


@njit(cache=True, nogil=True)
def sketch_rows(
    hashes: np.ndarray,
    offsets: np.ndarray,
    rows: np.ndarray,
    order: np.ndarray,
    rank_by_source: np.ndarray,
    minhash: np.ndarray,
    simhash: np.ndarray,
    big_endian: bool,
) -> None:
    """For the i-th row index r in `rows` (items hashes[offsets[r]:offsets[r + 1]]): its
    MinHash-128 into minhash[i] (skipped when `minhash` has no rows; each slot byte-swapped when
    `big_endian`) and its SimHash64 into simhash[i] (skipped when `simhash` is empty)."""
    scratch = np.empty((3, NUM_SLOTS), dtype=np.uint64)
    votes = np.empty(64, dtype=np.int64)
    for i in range(rows.shape[0]):
        start, end = offsets[rows[i]], offsets[rows[i] + 1]
        if simhash.shape[0]:
            simhash[i] = _simhash(hashes, start, end, votes)
        if minhash.shape[0] and end - start <= FEW_ITEMS:
            _minhash_few(hashes, start, end, rank_by_source, scratch, minhash[i], big_endian)
        elif minhash.shape[0]:
            _minhash(hashes, start, end, order, scratch, minhash[i], big_endian)


@njit(cache=True, nogil=True, inline="always")
def _simhash(hashes: np.ndarray, start: int, end: int, votes: np.ndarray) -> np.uint64:
    """Bit j is 1 when more than half of the items have bit j set. Each of 8 accumulators sums
    one bit of every byte of the items in 8-bit lanes (8 additions per item, not 64), flushed
    into the 64 vote counters every 255 items."""
    votes[:] = 0
    run = start
    while run < end:
        stop = min(end, run + _RUN)
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.uint64(0)
        for k in range(run, stop):
            h = hashes[k]
            a0 += h & _LANES
            a1 += (h >> np.uint64(1)) & _LANES
            a2 += (h >> np.uint64(2)) & _LANES
            a3 += (h >> np.uint64(3)) & _LANES
            a4 += (h >> np.uint64(4)) & _LANES
            a5 += (h >> np.uint64(5)) & _LANES
            a6 += (h >> np.uint64(6)) & _LANES
            a7 += (h >> np.uint64(7)) & _LANES
        for byte in range(8):
            shift = np.uint64(8 * byte)
            votes[8 * byte] += (a0 >> shift) & _BYTE
            votes[8 * byte + 1] += (a1 >> shift) & _BYTE
            votes[8 * byte + 2] += (a2 >> shift) & _BYTE
            votes[8 * byte + 3] += (a3 >> shift) & _BYTE
            votes[8 * byte + 4] += (a4 >> shift) & _BYTE
            votes[8 * byte + 5] += (a5 >> shift) & _BYTE
            votes[8 * byte + 6] += (a6 >> shift) & _BYTE
            votes[8 * byte + 7] += (a7 >> shift) & _BYTE
        run = stop
    count = end - start
    result = np.uint64(0)
    for bit in range(64):
        if 2 * votes[bit] > count:
            result |= np.uint64(1) << np.uint64(bit)
    return result


@njit(cache=True, nogil=True, inline="always")
def _minhash(
    hashes: np.ndarray,
    start: int,
    end: int,
    order: np.ndarray,
    scratch: np.ndarray,
    out: np.ndarray,
    big_endian: bool,
) -> None:
    """One-permutation MinHash of a row's items (more than FEW_ITEMS), then optimal
    densification: an empty slot takes the value of the first filled slot in its own probe
    order (`order[slot]`)."""
    slots, dense = scratch[0], scratch[1]
    going = scratch[2].view(np.int64)  # the empty slots whose walk goes on
    slots[:] = EMPTY
    for k in range(start, end):
        h = hashes[k]
        slot = h >> SLOT_SHIFT
        slots[slot] = min(slots[slot], h & VALUE_MASK)  # branch-free: a new slot is a coin toss
    # The empty slots' walks go step by step, all at once: each step reads the next slot of
    # every walk still going and lists the walks it did not end. Branch-free lists, because
    # whether a slot is empty is a coin toss the CPU cannot predict. The row has items, so some
    # slot is filled and every walk ends.
    dense[:] = slots
    walking = 0
    for slot in range(NUM_SLOTS):
        going[walking] = slot
        walking += slots[slot] == EMPTY
    step = 0
    while walking:
        still = 0
        for k in range(walking):
            slot = going[k]
            value = slots[order[slot, step]]
            dense[slot] = value
            going[still] = slot  # still <= k: overwrites only walks already read
            still += value == EMPTY
        walking = still
        step += 1
    if big_endian:
        for slot in range(NUM_SLOTS):
            out[slot] = _byteswap(dense[slot])
    else:
        out[:] = dense


@njit(cache=True, nogil=True, inline="always")
def _minhash_few(
    hashes: np.ndarray,
    start: int,
    end: int,
    rank_by_source: np.ndarray,
    scratch: np.ndarray,
    out: np.ndarray,
    big_endian: bool,
) -> None:
    """`_minhash` of a row of at most FEW_ITEMS items (galleries, embeds), without a slot table:
    the items are ordered by value, and each output slot keeps the item with the least key
    16 * rank_by_source[item's slot, slot] + its position (own slot first, then probe order;
    of two items in one slot the lesser value, as the slot minimum would)."""
    count = end - start
    values = scratch[0, :FEW_ITEMS]
    keys = scratch[1].view(np.int16)[:NUM_SLOTS]
    for k in range(count):  # insertion sort by value: a few items
        value = hashes[start + k] & VALUE_MASK
        j = k
        while j > 0 and (values[j - 1] & VALUE_MASK) > value:
            values[j] = values[j - 1]
            j -= 1
        values[j] = hashes[start + k]
    if count == 0:
        out[:] = EMPTY
        return
    keys[:] = rank_by_source[values[0] >> SLOT_SHIFT] << _ITEM_BITS
    for j in range(1, count):
        ranks = rank_by_source[values[j] >> SLOT_SHIFT]
        item = np.int16(j)
        for slot in range(NUM_SLOTS):  # int16 throughout, so the compiler vectorises it
            keys[slot] = min(keys[slot], (ranks[slot] << _ITEM_BITS) | item)
    for j in range(count):  # the stored form of each item's value, once
        value = values[j] & VALUE_MASK
        values[j] = _byteswap(value) if big_endian else value
    for slot in range(NUM_SLOTS):
        out[slot] = values[keys[slot] & _ITEM_MASK]


@njit(cache=True, nogil=True, inline="always")
def _byteswap(value: np.uint64) -> np.uint64:
    value = (value << np.uint64(32)) | (value >> np.uint64(32))
    value = ((value & np.uint64(0x0000FFFF0000FFFF)) << np.uint64(16)) | (
        (value >> np.uint64(16)) & np.uint64(0x0000FFFF0000FFFF)
    )
    return ((value & np.uint64(0x00FF00FF00FF00FF)) << np.uint64(8)) | (
        (value >> np.uint64(8)) & np.uint64(0x00FF00FF00FF00FF)
    )
