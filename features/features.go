package features

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/alfd/alfd/trap"
)

// N is the number of features.
const N = 24

// The features' positions in a Vector, in ALF's order (its DATASET_COLUMNS
// and D_0's header).
const (
	BytesRev = iota
	Bytes
	Packets
	PacketsRev
	PacketsSum
	BytesRation
	NumPktsRation
	Time
	AvPktSize
	AvPktSizeRev
	VarPktSize
	VarPktSizeRev
	MedianPktSize
	MedianPktSizeRev
	MinDelay
	AvgDelay
	MaxDelay
	Bursts
	Fizzles
	TimeLeapRation
	Autocorr
	StSum
	NdSum
	RdSum
)

// Names are the features' names, as in ALF's CSVs.
var Names = [N]string{
	"bytes_rev", "bytes", "packets", "packets_rev", "packets_sum", "bytes_ration", "num_pkts_ration",
	"time", "av_pkt_size", "av_pkt_size_rev", "var_pkt_size", "var_pkt_size_rev", "median_pkt_size",
	"median_pkt_size_rev", "mindelay", "avgdelay", "maxdelay", "bursts", "fizzles", "time_leap_ration",
	"autocorr", "stSum", "ndSum", "rdSum",
}

// Vector holds one flow's features.
type Vector [N]float64

// intColumns are the features that are whole numbers in every flow.
const intColumns = 1<<BytesRev | 1<<Bytes | 1<<Packets | 1<<PacketsRev | 1<<PacketsSum |
	1<<Bursts | 1<<Fizzles | 1<<StSum | 1<<NdSum | 1<<RdSum

// typedColumns are the features whose numpy.vectorize column type ALF's
// first flow of a batch decides: ALF returns the int 0 for them when a flow
// has too few packets, and a float otherwise.
const typedColumns = 1<<MinDelay | 1<<AvgDelay | 1<<MaxDelay | 1<<TimeLeapRation | 1<<Autocorr

// Set is a feature set: how the 24 features are computed.
type Set uint8

const (
	// SetALF computes the features as ALF does, quirks included. D_0 and
	// ALF's models use it.
	SetALF Set = iota
	// SetFixed computes them as intended: true milliseconds from times of
	// full precision, direction thirds without gaps, the autocorrelation of
	// the best lag whatever it is, and no batch-wide truncation.
	SetFixed
)

// String is the set's name, as model files record it.
func (s Set) String() string {
	switch s {
	case SetALF:
		return "alf"
	case SetFixed:
		return "fixed"
	}
	return fmt.Sprintf("Set(%d)", uint8(s))
}

// ParseSet returns the set of the given name.
func ParseSet(name string) (Set, error) {
	switch name {
	case "alf":
		return SetALF, nil
	case "fixed":
		return SetFixed, nil
	}
	return 0, fmt.Errorf("unknown feature set %q (want alf or fixed)", name)
}

// MaxPackets is how many packets of per-packet information a Flow holds:
// ipfixprobe's pstats plugin exports 30.
const MaxPackets = 30

// Flow is what the features are computed from: a flow's counters and its
// per-packet information. The three arrays may hold different numbers of
// entries (UniRec does not tie them together); ALF pairs lengths with
// directions as far as both go.
type Flow struct {
	Packets, PacketsRev uint64
	Bytes, BytesRev     uint64
	TimeFirst, TimeLast trap.Time

	NLengths, NDirs, NTimes int
	Lengths                 [MaxPackets]uint16
	Dirs                    [MaxPackets]int8 // +1 from the source, -1 back
	Times                   [MaxPackets]trap.Time
}

// SkipReason says why a flow gets no features; Kept is none.
type SkipReason uint8

// ALF's filters, in the order it applies them.
const (
	Kept          SkipReason = iota
	NoForward                // PACKETS == 0
	NoReverse                // PACKETS_REV == 0
	TooFewPackets            // PACKETS + PACKETS_REV < 6
	numReasons
)

func (r SkipReason) String() string {
	return [...]string{"kept", "no_forward_packets", "no_reverse_packets", "too_few_packets"}[r]
}

// Stats counts the flows an Extractor has seen.
type Stats struct {
	Kept    uint64
	Skipped [numReasons]uint64 // by reason; Skipped[Kept] is unused
}

// Extractor computes feature vectors. It keeps scratch space, the state of
// ALF's batches and counters, so each goroutine needs its own.
type Extractor struct {
	set   Set
	stats Stats

	// ALF's batch: the column types its first kept flow fixed.
	batchStarted bool
	batchInt     uint32

	delays   [sortCap]float64
	fwd, rev [sortCap]float64
}

// sortCap is the size of the arrays sortSmall sorts: a flow's delays and
// lengths, rounded up to the largest sorting network.
const sortCap = 32

// NewExtractor returns an Extractor for the set.
func NewExtractor(set Set) *Extractor { return &Extractor{set: set} }

// Set is the extractor's feature set.
func (e *Extractor) Set() Set { return e.set }

// Stats returns the counters.
func (e *Extractor) Stats() Stats { return e.stats }

// NewBatch starts a batch. ALF computes a batch's features with
// numpy.vectorize, which types every column by the batch's first flow: when
// that flow takes a branch that returns the int 0 (fewer than two packet
// times; no bursts or no fizzles; no usable autocorrelation), the column is
// an integer column and every flow's value in it is truncated. ALF's batches
// are one trapcap file, or up to 50,000 records of one socket connection.
func (e *Extractor) NewBatch() { e.batchStarted = false }

// IsInt reports whether feature i is written as an integer in the current
// batch (ALF's CSVs write integer columns without a decimal point).
func (e *Extractor) IsInt(i int) bool {
	cols := uint32(intColumns)
	if e.set == SetALF {
		cols |= e.batchInt
	}
	return cols&(1<<i) != 0
}

// Filter applies ALF's filters to a flow's packet counters.
func Filter(packets, packetsRev uint64) SkipReason {
	switch {
	case packets == 0:
		return NoForward
	case packetsRev == 0:
		return NoReverse
	case packets+packetsRev < 6:
		return TooFewPackets
	}
	return Kept
}

// Compute fills v with the features of f, or reports why ALF would not
// classify f (and leaves v alone).
func (e *Extractor) Compute(f *Flow, v *Vector) SkipReason {
	if r := Filter(f.Packets, f.PacketsRev); r != Kept {
		e.stats.Skipped[r]++
		return r
	}
	e.stats.Kept++
	alf := e.set == SetALF

	v[Bytes] = float64(f.Bytes)
	v[BytesRev] = float64(f.BytesRev)
	v[Packets] = float64(f.Packets)
	v[PacketsRev] = float64(f.PacketsRev)
	v[PacketsSum] = float64(f.Packets + f.PacketsRev)
	v[BytesRation] = ratio(v[Bytes], v[BytesRev])
	v[NumPktsRation] = ratio(v[Packets], v[PacketsRev])
	v[AvPktSize] = ratio(v[Bytes], v[Packets])
	v[AvPktSizeRev] = ratio(v[BytesRev], v[PacketsRev])
	v[Time] = e.millis(f.TimeFirst, f.TimeLast)

	intBranch := e.packetStats(f, v) | e.timeStats(f, v)
	if alf {
		if !e.batchStarted {
			e.batchStarted = true
			e.batchInt = intBranch & typedColumns
		}
		for cols := e.batchInt; cols != 0; cols &= cols - 1 {
			// numpy casts float to int64 by truncation.
			i := bits.TrailingZeros32(cols)
			v[i] = math.Trunc(v[i])
		}
	}
	return Kept
}

// ratio divides as ALF's pandas does, but gives 0 where it would give an
// infinity or NaN (a zero counter that ALF's filters let through).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// millis is the time from t1 to t2 in the set's milliseconds.
func (e *Extractor) millis(t1, t2 trap.Time) float64 {
	if e.set == SetFixed {
		return float64(t2.UnixNano()-t1.UnixNano()) / 1e6
	}
	return alfMillis(t2.UnixMilli() - t1.UnixMilli())
}

// alfMillis converts a time difference of d whole milliseconds as ALF's
// _time2msec does with a Python timedelta: total_seconds()*1000 plus
// microseconds/1000, where microseconds is the sub-second part normalised
// into [0, 1e6). The sub-second part counts twice (49 ms gives 98), and a
// negative difference gets a positive part (-49 ms gives 902).
func alfMillis(d int64) float64 {
	if uint64(d) <= 1000 {
		// Most gaps between packets: d/1000*1000 comes back exactly to d
		// up to 1000 (first not at 1001), so no division is needed.
		return float64(d + d%1000)
	}
	// total_seconds() is d*1000 µs / 1e6, the same rounding of d/1000; the
	// normalised microseconds over 1000 are a whole number of ms.
	frac := d % 1000
	if frac < 0 {
		frac += 1000
	}
	// The conversion rounds the product before the sum, as Python does,
	// where Go may otherwise fuse them (it does on arm64).
	return float64(float64(d)/1000*1000) + float64(frac)
}

// timeStats computes the delay features from the packet times. It returns
// the typed columns for which ALF's code returned the int 0.
func (e *Extractor) timeStats(f *Flow, v *Vector) (intBranch uint32) {
	n := f.NTimes
	if n < 2 {
		v[MinDelay], v[AvgDelay], v[MaxDelay] = 0, 0, 0
		v[Bursts], v[Fizzles], v[TimeLeapRation] = 0, 0, 0
		return 1<<MinDelay | 1<<AvgDelay | 1<<MaxDelay | 1<<TimeLeapRation
	}
	d := e.delays[:n-1]
	if e.set == SetALF {
		prev := f.Times[0].UnixMilli()
		for k := range d {
			next := f.Times[k+1].UnixMilli()
			d[k] = alfMillis(next - prev)
			prev = next
		}
	} else {
		prev := f.Times[0].UnixNano()
		for k := range d {
			next := f.Times[k+1].UnixNano()
			d[k] = float64(next-prev) / 1e6
			prev = next
		}
	}
	// numpy's mean adds the delays in their order; then they are sorted
	// in place.
	v[AvgDelay] = pairwiseSum(d) / float64(len(d))
	sortSmall(&e.delays, len(d))
	upper := percentile(d, 66.3)
	lower := percentile(d, 33.4)
	// Counted in the sorted delays, where the loops end where the values
	// cross the bounds instead of branching unpredictably on every delay.
	bursts := 0
	for bursts < len(d) && d[bursts] < lower {
		bursts++
	}
	above := len(d)
	for above > 0 && d[above-1] > upper {
		above--
	}
	fizzles := len(d) - above
	v[Bursts], v[Fizzles] = float64(bursts), float64(fizzles)
	if bursts > 0 && fizzles > 0 {
		v[TimeLeapRation] = float64(bursts) / float64(fizzles)
	} else {
		v[TimeLeapRation] = 0
		intBranch |= 1 << TimeLeapRation
	}
	v[MinDelay], v[MaxDelay] = d[0], d[len(d)-1]
	return intBranch
}

// percentile is numpy.percentile(a, q) with its default linear method, for
// sorted a, computed in the same floating-point steps so that comparisons
// against it come out as in numpy.
func percentile(sorted []float64, q float64) float64 {
	n := len(sorted)
	index := float64(n-1) * (q / 100)
	below := math.Floor(index)
	gamma := index - below
	i := int(below)
	j := min(i+1, n-1)
	a, b := sorted[i], sorted[j]
	diff := b - a
	// numpy's _lerp computes from the nearer end.
	if gamma >= 0.5 {
		return b - float64(diff*(1-gamma)) // rounded apart, as in alfMillis
	}
	return a + float64(diff*gamma)
}

// pairwiseSum adds as numpy's add.reduce does for up to 128 float64 values:
// a plain loop below 8 values, else eight running sums combined in a tree
// and the rest added one by one.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	if n < 8 {
		s := 0.0
		for _, x := range a {
			s += x
		}
		return s
	}
	r0, r1, r2, r3, r4, r5, r6, r7 := a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
	i := 8
	for ; i+8 <= n; i += 8 {
		b := a[i : i+8 : i+8]
		r0, r1, r2, r3 = r0+b[0], r1+b[1], r2+b[2], r3+b[3]
		r4, r5, r6, r7 = r4+b[4], r5+b[5], r6+b[6], r7+b[7]
	}
	s := ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
	for _, x := range a[i:] {
		s += x
	}
	return s
}

// insertionSort sorts the few values of a flow faster than a general sort
// (sortSmall's networks are faster still where the processor runs them).
func insertionSort(a []float64) {
	for i := 1; i < len(a); i++ {
		v := a[i]
		j := i
		for ; j > 0 && a[j-1] > v; j-- {
			a[j] = a[j-1]
		}
		a[j] = v
	}
}

// packetStats computes the size, direction and autocorrelation features.
// It returns the typed columns for which ALF's code returned the int 0.
func (e *Extractor) packetStats(f *Flow, v *Vector) (intBranch uint32) {
	nf, nr := 0, 0
	for k := range min(f.NLengths, f.NDirs) {
		switch f.Dirs[k] {
		case 1:
			e.fwd[nf] = float64(f.Lengths[k])
			nf++
		case -1:
			e.rev[nr] = float64(f.Lengths[k])
			nr++
		}
	}
	v[VarPktSize], v[MedianPktSize] = varianceMedian(&e.fwd, nf)
	v[VarPktSizeRev], v[MedianPktSizeRev] = varianceMedian(&e.rev, nr)

	// Sums of the directions over thirds of the flow. ALF's slices
	// [third+1:2*third] and [2*third+1:n] skip the elements at third and
	// 2*third.
	n := f.NDirs
	third := n / 3
	v[StSum], v[NdSum], v[RdSum] = 0, 0, 0
	if third >= 2 {
		skip := 1
		if e.set == SetFixed {
			skip = 0
		}
		v[StSum] = sumDirs(f.Dirs[:third])
		v[NdSum] = sumDirs(f.Dirs[third+skip : 2*third])
		v[RdSum] = sumDirs(f.Dirs[2*third+skip : n])
	}

	corr, ok := e.autocorr(f.Lengths[:f.NLengths])
	v[Autocorr] = corr
	if !ok {
		intBranch |= 1 << Autocorr
	}
	return intBranch
}

func sumDirs(d []int8) float64 {
	s := 0
	for _, x := range d {
		s += int(x)
	}
	return float64(s)
}

// varianceMedian is numpy's var (population variance) and median of the
// packet lengths in lengths[:n], 0 for none. It sorts them.
func varianceMedian(lengths *[sortCap]float64, n int) (variance, median float64) {
	if n == 0 {
		return 0, 0
	}
	x := lengths[:n]
	// numpy sums the integers exactly, then divides.
	var sum int64
	for _, xi := range x {
		sum += int64(xi)
	}
	mean := float64(sum) / float64(n)
	var sq [MaxPackets]float64
	for i, xi := range x {
		sq[i] = (xi - mean) * (xi - mean)
	}
	variance = pairwiseSum(sq[:n]) / float64(n)
	sortSmall(lengths, n)
	if n%2 == 1 {
		median = x[n/2]
	} else {
		median = (x[n/2-1] + x[n/2]) / 2
	}
	return variance, median
}

// autocorr is ALF's autocorrelation of the packet lengths: the Pearson
// correlation of lengths[lag:] with lengths[:-lag] for lag 1 up to
// min(n/2, 10)-1, the best by numpy.nanargmax. ALF tests that index for
// truth, so a best lag of 1 (index 0) gives 0; so does a flow of fewer than
// 5 packets or without a defined correlation. ok is false in these cases,
// where ALF's code keeps its int 0.
//
// Every lag's correlation is computed exactly from integer sums. For
// SetALF, numpy's own rounding then decides where it can change the outcome:
// numpy often gets 0.9999999999999998 for a perfect correlation, which
// ALF's integer columns truncate to 0.
func (e *Extractor) autocorr(lengths []uint16) (corr float64, ok bool) {
	n := len(lengths)
	if n < 5 {
		return 0, false
	}
	maxLag := min(n/2, 10) - 1
	var r [10]float64
	exactCorrelations(lengths, maxLag, &r)
	best, bestLag := nanArgmax(r[1 : maxLag+1])
	if bestLag < 0 {
		return 0, false
	}
	bestLag++
	if e.set == SetFixed {
		return best, true
	}
	// numpy's values differ from the exact ones by a few units in the last
	// place. That decides the outcome only between lags that tie up to
	// rounding, and at ±1, where ALF's integer columns truncate numpy's
	// 0.9999999999999998 to 0: there, numpy's own rounding is followed.
	const near = 1e-12
	ties := 0
	for lag := 1; lag <= maxLag; lag++ {
		if r[lag] >= best-near {
			ties++
		}
	}
	if ties > 1 || math.Abs(best) > 1-near {
		exactBest := best
		bestLag = -1
		for lag := 1; lag <= maxLag; lag++ {
			if r[lag] >= exactBest-near {
				if c := numpyCorrelation(lengths, lag); bestLag < 0 || c > best {
					best, bestLag = c, lag
				}
			}
		}
	}
	if bestLag == 1 {
		return 0, false
	}
	return best, true
}

// nanArgmax is numpy.nanargmax: the first largest value that is not NaN,
// and its index; -1 when all are NaN.
func nanArgmax(r []float64) (best float64, at int) {
	at = -1
	for i, x := range r {
		if !math.IsNaN(x) && (at < 0 || x > best) {
			best, at = x, i
		}
	}
	return best, at
}

// numpyCorrelation is numpy.corrcoef(x[lag:], x[:-lag])[0][1] computed in
// numpy's floating-point steps: the means (exact, as sums of integers are),
// the centred products summed in order with fused multiply-adds as
// OpenBLAS's kernels do, scaled by 1/(m-1), divided by each standard
// deviation in turn, clipped to [-1, 1].
func numpyCorrelation(x []uint16, lag int) float64 {
	m := len(x) - lag
	var sx, sy int64
	for k := range m {
		sx += int64(x[k+lag])
		sy += int64(x[k])
	}
	mx, my := float64(sx)/float64(m), float64(sy)/float64(m)
	var sxx, sxy, syy float64
	xs, ys := x[lag:], x[:m]
	xs = xs[:len(ys)]
	for k, yk := range ys {
		dx, dy := float64(xs[k])-mx, float64(yk)-my
		sxx, sxy, syy = math.FMA(dx, dx, sxx), math.FMA(dx, dy, sxy), math.FMA(dy, dy, syy)
	}
	scale := 1 / float64(m-1)
	c := sxy * scale / math.Sqrt(sxx*scale) / math.Sqrt(syy*scale)
	if math.IsNaN(c) {
		return c
	}
	return max(-1, min(1, c))
}

// exactCorrelations sets r[lag] to the Pearson correlation of x[lag:] with
// x[:-lag], for lag 1..maxLag (at most 9), from exact integer sums, so that
// a perfect correlation is exactly 1 or -1; NaN when either sequence is
// constant.
func exactCorrelations(x []uint16, maxLag int, r *[10]float64) {
	n := len(x)
	var s, sq int64
	for _, v := range x {
		s += int64(v)
		sq += int64(v) * int64(v)
	}
	var products [10]int64
	lagProducts(x, &products)
	// The sums of x[lag:] and x[:n-lag] are the whole's less the first or
	// the last lag values'.
	var head, headSq, tail, tailSq int64
	for lag := 1; lag <= maxLag; lag++ {
		a, b := int64(x[lag-1]), int64(x[n-lag])
		head, headSq, tail, tailSq = head+a, headSq+a*a, tail+b, tailSq+b*b
		m := int64(n - lag)
		sx, sy := s-head, s-tail
		// m times the centred sums of squares and products.
		cxx := m*(sq-headSq) - sx*sx
		cyy := m*(sq-tailSq) - sy*sy
		cxy := m*products[lag] - sx*sy
		switch {
		case cxx == 0 || cyy == 0:
			r[lag] = math.NaN()
		case perfect(cxy, cxx, cyy):
			r[lag] = math.Copysign(1, float64(cxy))
		default:
			c := float64(cxy) / math.Sqrt(float64(cxx)*float64(cyy))
			// Rounding may step past ±1 for a near-perfect correlation.
			if c > 1 {
				c = 1
			} else if c < -1 {
				c = -1
			}
			r[lag] = c
		}
	}
}

// pairedMax is the largest packet length for which lagProducts sums two
// lags in one float64: a lag's at most 29 products of lengths up to it stay
// below 2^26, the lower lane, so both lanes together stay below 2^53, exact
// in a float64.
const pairedMax = 1521

// lagProductsGo sets products[lag] to the sum of x[k]*x[k+lag] for lag
// 1..9. lagProducts is it, in assembly where there is some.
func lagProductsGo(x []uint16, products *[10]int64) {
	// Zeros past the end let every lag's products be summed side by side.
	// Floats hold these products and sums exactly (below 2^53), and the
	// processor multiplies them faster than integers.
	//
	// Two lags per multiplication where the lengths allow: with
	// y[m] = x[m] + 2^26·x[m+1], x[k]·y[k+lag] holds the products of lag
	// and lag+1 in separate lanes. Both arrays are filled in one pass,
	// from the end.
	const lane = 1 << 26
	var xp, y [MaxPackets + 10]float64
	longest := uint16(0)
	next := 0.0
	for i := len(x) - 1; i >= 0; i-- {
		v := x[i]
		xi := float64(v)
		xp[i], y[i] = xi, xi+lane*next
		next = xi
		longest = max(longest, v)
	}
	if longest > pairedMax {
		var p [10]float64
		for k := range x {
			w := xp[k : k+10]
			xk := w[0]
			p[1], p[2], p[3] = p[1]+xk*w[1], p[2]+xk*w[2], p[3]+xk*w[3]
			p[4], p[5], p[6] = p[4]+xk*w[4], p[5]+xk*w[5], p[6]+xk*w[6]
			p[7], p[8], p[9] = p[7]+xk*w[7], p[8]+xk*w[8], p[9]+xk*w[9]
		}
		for lag := 1; lag <= 9; lag++ {
			products[lag] = int64(p[lag])
		}
		return
	}
	var q1, q3, q5, q7, q9 float64
	for k := range x {
		w := y[k : k+10]
		xk := xp[k]
		q1, q3, q5 = q1+xk*w[1], q3+xk*w[3], q5+xk*w[5]
		q7, q9 = q7+xk*w[7], q9+xk*w[9]
	}
	for i, q := range [5]float64{q1, q3, q5, q7, q9} {
		lag := 2*i + 1
		hi := math.Floor(q / lane)
		products[lag] = int64(q - hi*lane)
		if lag < 9 { // the upper lane of lag 9 is lag 10's, unused
			products[lag+1] = int64(hi)
		}
	}
}

// perfect reports whether cxy² == cxx·cyy, in 128-bit arithmetic.
func perfect(cxy, cxx, cyy int64) bool {
	a := uint64(cxy)
	if cxy < 0 {
		a = uint64(-cxy)
	}
	hi1, lo1 := bits.Mul64(a, a)
	hi2, lo2 := bits.Mul64(uint64(cxx), uint64(cyy))
	return hi1 == hi2 && lo1 == lo2
}
