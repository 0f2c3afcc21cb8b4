// Package features computes the 24 DoH features of a flow from its
// counters and its per-packet information, exactly as ALF's PreprocessorDoH
// computes them, so that ALF's D_0 and models mean what they meant there.
//
// One Extractor serves both flows read from TRAP (UniRec records, through a
// RecordReader) and flows built by alfd's own flow meter. It has two feature
// sets: SetALF, the default, with every quirk of ALF's Python (times read to
// the millisecond, sub-second parts counted twice, direction thirds that skip
// two elements, autocorrelation at lag 1 reported as 0, and numpy.vectorize
// typing a whole batch's column by its first flow); and SetFixed, the same
// features computed as intended, for new models.
//
// Computing a flow's features allocates nothing and calls through no
// interface. On amd64 with AVX2, a flow's delays and packet lengths are
// sorted by sorting networks in vector registers (sort_amd64.s), which take
// no branch, and the lengths' products at the autocorrelation's nine lags
// are summed four at a time (lag_amd64.s); elsewhere, and with the purego
// build tag, Go does both, by insertion sort and one product at a time.
package features
