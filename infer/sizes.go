package infer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// leaves sizes what it allocates by counts in the file (LightGBM's
// num_leaves, the lengths in XGBoost's binary format) before it reads what
// they count, so a corrupt count would exhaust memory, which no recover
// catches. These checks hold every count to what the file could hold.

// errCount reports a count that the bytes left of the file cannot hold.
func errCount(what string, n uint64, left int) error {
	return fmt.Errorf("%s of %d, more than the %d bytes left can hold", what, n, left)
}

// checkLightGBMText checks the num_leaves and num_cat of every tree: each
// leaf takes at least two bytes of text.
func checkLightGBMText(data []byte) error {
	for _, key := range []string{"\nnum_leaves=", "\nnum_cat="} {
		for rest := data; ; {
			i := bytes.Index(rest, []byte(key))
			if i < 0 {
				break
			}
			rest = rest[i+len(key):]
			end := bytes.IndexAny(rest, "\r\n")
			if end < 0 {
				end = len(rest)
			}
			// As leaves reads it (strconv.Atoi, which takes a sign).
			n, err := strconv.ParseInt(string(bytes.TrimSpace(rest[:end])), 10, 64)
			if err == nil && n > int64(len(data))/2 {
				return errCount(key[1:len(key)-1], uint64(n), len(data))
			}
		}
	}
	return nil
}

// maxCategory is the largest category a LightGBM JSON model may split on:
// leaves makes a bitset as long as the largest one, so a corrupt value
// would ask for gigabytes. LightGBM advises consecutive categories from 0.
const maxCategory = 1 << 24

// checkLightGBMJSON checks num_leaves and num_cat of every tree as
// checkLightGBMText does, and the categories of every categorical split.
func checkLightGBMJSON(data []byte) error {
	var model any
	if err := json.Unmarshal(data, &model); err != nil {
		return fmt.Errorf("LightGBM JSON: %w", err)
	}
	return checkJSONCounts(model, len(data))
}

func checkJSONCounts(v any, size int) error {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if err := checkJSONCounts(x, size); err != nil {
				return err
			}
		}
	case map[string]any:
		for key, x := range v {
			// Keys in any case: Go's JSON decoder, which leaves uses,
			// matches them so.
			switch n, isNum := x.(float64); {
			case (strings.EqualFold(key, "num_leaves") || strings.EqualFold(key, "num_cat")) && isNum && (n < 0 || n > float64(size)/2):
				return fmt.Errorf("LightGBM JSON: %w", errCount(key, uint64(max(n, 0)), size))
			case strings.EqualFold(key, "threshold"):
				if t, ok := x.(string); ok {
					for _, c := range strings.Split(t, "||") {
						if c, err := strconv.ParseInt(c, 10, 64); err == nil && (c < 0 || c > maxCategory) {
							return fmt.Errorf("LightGBM JSON: category %d (alfd takes 0 to %d)", c, maxCategory)
						}
					}
				}
			}
			if err := checkJSONCounts(x, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// The layout of XGBoost's old binary format, as leaves reads it.
const (
	xgLearnerParamSize = 136 // base score, features, classes, two flags, 29 reserved
	xgGBTreeParamSize  = 160
	xgTreeParamSize    = 148
	xgNodeSize         = 20 // parent, left, right, split index, value
	xgNodeStatSize     = 16
)

// checkXGBoostBinary walks an XGBoost binary model as leaves will read it
// and checks that every length fits in what is left of the file and that
// every tree is a tree: children in range, each node reached once from the
// root (leaves' walk of a tree would not end otherwise).
func checkXGBoostBinary(data []byte) error {
	r := xgReader{b: data}
	r.skip(xgLearnerParamSize)
	r.skip(r.length("objective name", 1))
	gbm := string(r.take(r.length("booster name", 1)))
	if r.err != nil || (gbm != "gbtree" && gbm != "dart") {
		return r.err // leaves refuses other boosters before it allocates
	}
	param := r.take(xgGBTreeParamSize)
	if r.err != nil {
		return r.err
	}
	trees := int32(binary.LittleEndian.Uint32(param))
	if trees < 0 || uint64(trees) > uint64(len(r.b))/xgTreeParamSize {
		return errCount("number of trees", uint64(trees), len(r.b))
	}
	for t := range trees {
		tp := r.take(xgTreeParamSize)
		if r.err != nil {
			return r.err
		}
		n := int32(binary.LittleEndian.Uint32(tp[4:]))
		leafVector := int32(binary.LittleEndian.Uint32(tp[20:]))
		if n < 1 || uint64(n) > uint64(len(r.b))/(xgNodeSize+xgNodeStatSize) {
			return fmt.Errorf("tree %d: %w", t, errCount("number of nodes", uint64(n), len(r.b)))
		}
		if err := checkXGBoostTree(r.take(int(n) * xgNodeSize)); err != nil {
			return fmt.Errorf("tree %d: %w", t, err)
		}
		r.skip(int(n) * xgNodeStatSize)
		if leafVector > 0 {
			r.skip(r.length("leaf vector", 4) * 4)
		}
	}
	r.skip(int(trees) * 4)
	if gbm == "dart" {
		r.skip(r.length("dropped trees' weights", 4) * 4)
	}
	return r.err
}

// checkXGBoostTree checks the nodes of one tree: each reached once.
func checkXGBoostTree(nodes []byte) error {
	n := int32(len(nodes) / xgNodeSize)
	seen := make([]bool, n)
	stack := []int32{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i < 0 || i >= n {
			return fmt.Errorf("child %d out of range", i)
		}
		if seen[i] {
			return fmt.Errorf("node %d reached twice from the root", i)
		}
		seen[i] = true
		node := nodes[i*xgNodeSize:]
		left, right := int32(binary.LittleEndian.Uint32(node[4:])), int32(binary.LittleEndian.Uint32(node[8:]))
		if left != -1 {
			stack = append(stack, left, right)
		}
	}
	return nil
}

// xgReader reads XGBoost's binary format, keeping the first error.
type xgReader struct {
	b   []byte
	err error
}

var errXGShort = errors.New("XGBoost binary model cut short")

func (r *xgReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errXGShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *xgReader) skip(n int) { r.take(n) }

// length reads a uint64 count of elems-byte elements that must fit in
// the rest of the file.
func (r *xgReader) length(what string, elem int) int {
	b := r.take(8)
	if r.err != nil {
		return 0
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(r.b)/elem) {
		r.err = errCount("length of the "+what, n, len(r.b))
		return 0
	}
	return int(n)
}
