package features

import (
	"math"
	"strconv"
)

// AppendFloat appends v as Python's repr() writes a float, as ALF's CSVs
// have it: the shortest digits that read back as v, always with a decimal
// point or an exponent ("98.0", "0.1", "1e-05", "1.5e+16").
func AppendFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "nan"...)
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	}
	// Python writes the exponent form for exponents below -4 or from 16.
	if exp := decimalExponent(v); exp < -4 || exp >= 16 {
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// decimalExponent is the exponent of v in scientific notation with its
// shortest digits.
func decimalExponent(v float64) int {
	if v == 0 {
		return 0
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], v, 'e', -1, 64)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == 'e' {
			exp, _ := strconv.Atoi(string(b[i+1:]))
			return exp
		}
	}
	return 0
}

// AppendValue appends feature i of v as ALF's CSVs write it: an integer
// when the column is one in the extractor's current batch, else a float.
func (e *Extractor) AppendValue(dst []byte, v *Vector, i int) []byte {
	if e.IsInt(i) {
		return strconv.AppendInt(dst, int64(v[i]), 10)
	}
	return AppendFloat(dst, v[i])
}

// IsIntFeature reports whether feature i is a whole number for every flow
// (counts and sums), so that CSVs write it without a decimal point.
func IsIntFeature(i int) bool { return intColumns&(1<<i) != 0 }
