package features

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/alfd/alfd/trap"
)

func TestALFMillis(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want float64
	}{
		{49, 98},     // the sub-second part counts twice
		{1049, 1098}, // 1.049 s
		{1000, 1000},
		{0, 0},
		{-49, 902}, // timedelta(-1 day, 86399 s, 951000 µs)
		{7, 14},
		{2007, 2014.0000000000002}, // Python: 2007000/1e6*1000 + 7000/1000
	} {
		if got := alfMillis(tc.ms); got != tc.want {
			t.Errorf("alfMillis(%d) = %v, want %v", tc.ms, got, tc.want)
		}
	}
	// Python's steps, one by one, around the short cut for small gaps.
	for d := int64(-3000); d <= 1_000_000; d++ {
		frac := d % 1000
		if frac < 0 {
			frac += 1000
		}
		if got, want := alfMillis(d), float64(float64(d)/1000*1000)+float64(frac); got != want {
			t.Fatalf("alfMillis(%d) = %v, want %v", d, got, want)
		}
	}
}

func TestPercentileLikeNumpy(t *testing.T) {
	// numpy.percentile(a, q) for these, worked out by numpy's rule:
	// index (n-1)*q/100, interpolated from the nearer end.
	a := []float64{1, 2, 3, 4, 10}
	for _, tc := range []struct{ q, want float64 }{
		{66.3, 3 + (4-3)*0.652}, // index 2.652: 4 - 1*(1-0.652)
		{33.4, 2 + (3-2)*0.336}, // index 1.336
		{50, 3},
	} {
		if got := percentile(a, tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile([]float64{5}, 66.3); got != 5 {
		t.Errorf("one value: %v", got)
	}
	if got := percentile([]float64{2, 2, 2}, 33.4); got != 2 {
		t.Errorf("equal values: %v", got)
	}
}

func TestPairwiseSumOrder(t *testing.T) {
	// Eight running sums, then the tail: a different rounding from a plain
	// loop for these values.
	a := make([]float64, 17)
	for i := range a {
		a[i] = 0.1 * float64(i+1)
	}
	r := [8]float64{}
	copy(r[:], a[:8])
	for k := range 8 {
		r[k] += a[8+k]
	}
	want := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + a[16]
	if got := pairwiseSum(a); got != want {
		t.Errorf("pairwiseSum = %v, want %v", got, want)
	}
}

// flowOf builds a flow from per-packet lengths, directions and millisecond
// offsets from t0.
func flowOf(lengths []uint16, dirs []int8, ms []int64) *Flow {
	f := &Flow{NLengths: len(lengths), NDirs: len(dirs), NTimes: len(ms)}
	copy(f.Lengths[:], lengths)
	copy(f.Dirs[:], dirs)
	t0 := trap.TimeFromUnix(1638540027, 0)
	for i, m := range ms {
		f.Times[i] = trap.TimeFromUnix(1638540027+m/1000, (m%1000)*1e6)
	}
	for _, d := range dirs {
		if d > 0 {
			f.Packets++
		} else {
			f.PacketsRev++
		}
	}
	f.Bytes, f.BytesRev = 100*f.Packets, 300*f.PacketsRev
	f.TimeFirst = t0
	if len(ms) > 0 {
		f.TimeLast = f.Times[len(ms)-1]
	}
	return f
}

func TestSkipReasons(t *testing.T) {
	e := NewExtractor(SetALF)
	var v Vector
	for _, tc := range []struct {
		fwd, rev uint64
		want     SkipReason
	}{
		{0, 10, NoForward}, {0, 0, NoForward}, {10, 0, NoReverse}, {3, 2, TooFewPackets}, {3, 3, Kept},
	} {
		if got := e.Compute(&Flow{Packets: tc.fwd, PacketsRev: tc.rev}, &v); got != tc.want {
			t.Errorf("%d/%d packets: %v, want %v", tc.fwd, tc.rev, got, tc.want)
		}
	}
	st := e.Stats()
	if st.Kept != 1 || st.Skipped[NoForward] != 2 || st.Skipped[NoReverse] != 1 || st.Skipped[TooFewPackets] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDirectionThirds(t *testing.T) {
	// 9 directions: third = 3. ALF sums [0:3], [4:6], [7:9], skipping
	// elements 3 and 6; the fixed set sums [0:3], [3:6], [6:9].
	dirs := []int8{1, 1, 1, -1, 1, 1, -1, -1, -1}
	f := flowOf(make([]uint16, 9), dirs, nil)
	var v Vector
	NewExtractor(SetALF).Compute(f, &v)
	if v[StSum] != 3 || v[NdSum] != 2 || v[RdSum] != -2 {
		t.Errorf("ALF thirds %v %v %v, want 3 2 -2", v[StSum], v[NdSum], v[RdSum])
	}
	NewExtractor(SetFixed).Compute(f, &v)
	if v[StSum] != 3 || v[NdSum] != 1 || v[RdSum] != -3 {
		t.Errorf("fixed thirds %v %v %v, want 3 1 -3", v[StSum], v[NdSum], v[RdSum])
	}
	// Fewer than 6 directions: all 0.
	short := flowOf(make([]uint16, 5), []int8{1, 1, 1, -1, -1}, nil)
	short.Packets = 10
	NewExtractor(SetALF).Compute(short, &v)
	if v[StSum] != 0 || v[NdSum] != 0 || v[RdSum] != 0 {
		t.Error("thirds of a 5-packet flow are not 0")
	}
}

func TestAutocorr(t *testing.T) {
	e := NewExtractor(SetALF)
	fixed := NewExtractor(SetFixed)
	// Alternating lengths: lag 1 correlates -1, lag 2 +1 exactly. ALF's
	// numpy gets 0.9999999999999998 for lag 2.
	alt := []uint16{29, 25, 29, 25, 29, 25, 29, 25, 29, 25}
	if got, ok := e.autocorr(alt); got != 0.9999999999999998 || !ok {
		// (numpy: (32/7) / sqrt(32/7) / sqrt(32/7) in floats.)
		t.Errorf("ALF autocorr of an alternating flow = %v (%v)", got, ok)
	}
	if got, _ := fixed.autocorr(alt); got != 1 {
		t.Errorf("fixed autocorr of an alternating flow = %v, want exactly 1", got)
	}
	// A ramp correlates best at lag 1: ALF reports 0, the fixed set the
	// correlation.
	ramp := []uint16{10, 20, 30, 40, 50, 60, 70, 80}
	if got, ok := e.autocorr(ramp); got != 0 || ok {
		t.Errorf("ALF autocorr with best lag 1 = %v (%v), want the int 0", got, ok)
	}
	if got, _ := fixed.autocorr(ramp); got != 1 {
		t.Errorf("fixed autocorr of a ramp = %v, want 1", got)
	}
	// Constant lengths: no correlation defined; fewer than 5: none asked.
	if got, ok := e.autocorr([]uint16{5, 5, 5, 5, 5, 5}); got != 0 || ok {
		t.Errorf("constant lengths: %v (%v)", got, ok)
	}
	if got, ok := e.autocorr([]uint16{1, 9, 2, 8}); got != 0 || ok {
		t.Errorf("4 lengths: %v (%v)", got, ok)
	}
}

func TestBatchTypesColumnsByFirstFlow(t *testing.T) {
	// The first flow has one packet time: ALF's delay columns and its
	// time_leap_ration become int columns for the whole batch.
	dirs := []int8{1, -1, 1, -1, 1, -1}
	lengths := []uint16{100, 300, 120, 310, 90, 280}
	first := flowOf(lengths, dirs, []int64{0})
	second := flowOf(lengths, dirs, []int64{0, 7, 19, 40, 52, 81})
	e := NewExtractor(SetALF)
	e.NewBatch()
	var v Vector
	e.Compute(first, &v)
	e.Compute(second, &v)
	if !e.IsInt(MinDelay) || !e.IsInt(AvgDelay) || !e.IsInt(TimeLeapRation) || e.IsInt(Time) {
		t.Error("column types not taken from the first flow")
	}
	// Delays 7,12,21,12,29 ms count as 14, 24, 42, 24, 58; their mean 32.4
	// is cut to 32.
	if v[MinDelay] != 14 || v[MaxDelay] != 58 || v[AvgDelay] != 32 {
		t.Errorf("delays not truncated: %v %v %v", v[MinDelay], v[AvgDelay], v[MaxDelay])
	}
	// A new batch whose first flow has times: float columns again.
	e.NewBatch()
	e.Compute(second, &v)
	if e.IsInt(MinDelay) || v[AvgDelay] != 32.4 {
		t.Errorf("new batch: int=%v avg=%v", e.IsInt(MinDelay), v[AvgDelay])
	}
	// The fixed set never truncates, and reads true milliseconds.
	f := NewExtractor(SetFixed)
	f.Compute(first, &v)
	f.Compute(second, &v)
	if f.IsInt(MinDelay) || v[MinDelay] != 7 || v[MaxDelay] != 29 || v[Time] != 81 {
		t.Errorf("fixed: min %v max %v time %v", v[MinDelay], v[MaxDelay], v[Time])
	}
}

func TestBurstsAndFizzles(t *testing.T) {
	// Delays (ALF ms) 2,2,2,2,20,200 ms -> doubled sub-second parts:
	// 4,4,4,4,40,400. 66.3rd percentile at index 3.315 = 4+36*0.315,
	// 33.4th at 1.67 = 4: fizzles are the delays above 15.34, bursts none
	// below 4.
	ms := []int64{0, 2, 4, 6, 8, 28, 228}
	f := flowOf(make([]uint16, 7), []int8{1, -1, 1, -1, 1, -1, 1}, ms)
	var v Vector
	NewExtractor(SetALF).Compute(f, &v)
	if v[Fizzles] != 2 || v[Bursts] != 0 || v[TimeLeapRation] != 0 {
		t.Errorf("fizzles %v bursts %v ratio %v", v[Fizzles], v[Bursts], v[TimeLeapRation])
	}
	if v[Time] != 456 {
		t.Errorf("time %v, want 456 (228 ms counted twice)", v[Time])
	}
}

func TestExtractorDoesNotAllocate(t *testing.T) {
	f := benchFlow()
	for _, set := range []Set{SetALF, SetFixed} {
		e := NewExtractor(set)
		var v Vector
		if n := testing.AllocsPerRun(1000, func() { e.Compute(f, &v) }); n != 0 {
			t.Errorf("%v: Compute allocates %v times per flow", set, n)
		}
	}
}

func TestAppendFloatLikePython(t *testing.T) {
	for v, want := range map[float64]string{
		98:                   "98.0",
		0.10878403350991746:  "0.10878403350991746",
		1e16:                 "1e+16",
		1234567890123456:     "1234567890123456.0",
		0.0001:               "0.0001",
		0.00001:              "1e-05",
		-0.5:                 "-0.5",
		math.Copysign(0, -1): "-0.0",
		2.5e-310:             "2.5e-310",
		1.5e300:              "1.5e+300",
	} {
		if got := string(AppendFloat(nil, v)); got != want {
			t.Errorf("AppendFloat(%v) = %s, want %s", v, got, want)
		}
	}
}

// TestLagProducts checks both ways of summing the lag products, two lags to
// a float64 and one, against integer arithmetic, at the lengths where the
// first stops being exact.
func TestLagProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, longest := range []int{1, 2, 100, pairedMax + 1, pairedMax + 2, 1 << 16} {
		for range 200 {
			x := make([]uint16, rng.IntN(MaxPackets+1))
			for i := range x {
				x[i] = uint16(rng.IntN(longest))
			}
			if len(x) > 0 && rng.IntN(2) == 0 {
				for i := range x { // all at the bound: the largest sums
					x[i] = uint16(longest - 1)
				}
			}
			var got [10]int64
			lagProducts(x, &got)
			for lag := 1; lag <= 9; lag++ {
				var want int64
				for k := 0; k+lag < len(x); k++ {
					want += int64(x[k]) * int64(x[k+lag])
				}
				if got[lag] != want {
					t.Fatalf("lengths %v: lag %d: %d, want %d", x, lag, got[lag], want)
				}
			}
		}
	}
}
