//go:build amd64 && !purego

package flowmeter

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestFetchFlow holds fetchFlow to its masks and to the record it fetches,
// against scanTag, on lines of 16 whose slots hold the sought tag, free
// ones, other tags, and the sought tag's bits in their other fields (the
// second, the record's low half), which must not count.
func TestFetchFlow(t *testing.T) {
	if !hasAVX512BW {
		t.Skip("no AVX-512 here: fetchAhead is prefetchLine and prefetchFlow")
	}
	m, err := NewMeter(Config{Cache: CacheConfig{Size: 1 << 16}}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	k := m.cache
	rng := rand.New(rand.NewPCG(5, 6))
	const sought = 0xbeef // a record too: the cache has more
	tags := []uint16{0, 1, sought, sought ^ 1, sought >> 1}
	matched, missed, full := 0, 0, 0
	for range 20000 {
		start := rng.IntN(k.cfg.Size/16) * 16
		// Mostly one tag in few places, so that first matches, none, and
		// full lines all come up.
		common := tags[rng.IntN(len(tags))]
		for i := start; i < start+16; i++ {
			tg := common
			if rng.IntN(4) == 0 {
				tg = tags[rng.IntN(len(tags))]
			}
			k.slots[i] = slot{tag: tg, lastSec: sought, flow: sought}
			if rng.IntN(2) == 0 {
				k.slots[i].lastSec, k.slots[i].flow = uint16(rng.Uint32()), rng.Uint32N(uint32(len(k.flows)))
			}
		}
		var wantMatch, wantFree uint64
		for i, sl := range k.slots[start : start+16] {
			if sl.tag == sought {
				wantMatch |= 1 << (4 * i)
			}
			if sl.tag == 0 {
				wantFree |= 1 << (4 * i)
			}
		}
		s, wantFull := k.scanTag(start, sought)
		var wantRecord uintptr
		if s >= 0 {
			wantRecord = uintptr(unsafe.Pointer(&k.flows[k.slots[s].flow]))
		}
		next := k.line16(rng.IntN(k.cfg.Size/16) * 16)
		match, free, record := fetchFlow(k.line16(start), sought, unsafe.Pointer(&k.flows[0]), unsafe.Sizeof(Flow{}), next)
		if match != wantMatch || free != wantFree || record != wantRecord {
			t.Fatalf("line %v: fetchFlow = %#x, %#x, record %#x; want %#x, %#x, %#x", k.slots[start:start+16], match, free, record, wantMatch, wantFree, wantRecord)
		}
		switch {
		case s >= 0:
			matched++
		case wantFull:
			full++
		default:
			missed++
		}
	}
	if matched < 1000 || missed < 1000 || full < 1000 {
		t.Fatalf("lines tried: %d matched, %d not, %d full without a match: want all kinds", matched, missed, full)
	}
}
