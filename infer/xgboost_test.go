package infer

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alfd/alfd/features"
)

// handModel is a small XGBoost JSON model written by hand:
//
//	tree 0: x0 < 0.5 ? -0.4 : 0.3                   (NaN goes left)
//	tree 1: x5 < 100 ? 0.25 : (x7 < 0.1 ? -0.125 : 0.5)
//	        (NaN at x5 goes right, NaN at x7 left)
//
// with base_score 0.5, whose logit, 0, is the base margin.
const handModel = `{"learner":{"feature_names":[],
 "gradient_booster":{"name":"gbtree","model":{"gbtree_model_param":{"num_trees":"2"},"tree_info":[0,0],"trees":[
  {"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],
   "split_conditions":[0.5,-0.4,0.3],"default_left":[1,0,0],"split_type":[0,0,0]},
  {"left_children":[1,-1,3,-1,-1],"right_children":[2,-1,4,-1,-1],"split_indices":[5,0,7,0,0],
   "split_conditions":[100,0.25,0.1,-0.125,0.5],"default_left":[false,false,true,false,false],"split_type":[0,0,0,0,0]}]}},
 "learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"24"},
 "objective":{"name":"binary:logistic"}},"version":[2,0,3]}`

func writeText(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sigmoid32 is XGBoost's logistic transformation, in float32.
func sigmoid32(margin float32) float64 {
	return float64(1 / (1 + float32(math.Exp(float64(-margin)))))
}

func TestXGBoostJSONByHand(t *testing.T) {
	m, err := Load(writeText(t, "xgb.json", handModel), features.SetALF)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	for _, tc := range []struct {
		name       string
		x0, x5, x7 float64
		margin     float32
	}{
		{"both trees left", 0.4, 50, 0, float32(-0.4) + float32(0.25)},
		// XGBoost splits on <: a value equal to the threshold goes right.
		{"values on the thresholds", 0.5, 100, 0.1, float32(0.3) + float32(0.5)},
		// In float32, 0.49999999999 is 0.5, 99.999999999 is 100 and
		// 0.0999999999 is 0.1f: right each time, where float64 goes left.
		{"float32 rounding", 0.49999999999, 99.999999999, 0.0999999999, float32(0.3) + float32(0.5)},
		{"NaN the default ways", nan, nan, nan, float32(-0.4) + float32(-0.125)},
		{"x7 past its threshold", -1, 1e9, 7, float32(-0.4) + float32(0.5)},
	} {
		var x features.Vector
		x[0], x[5], x[7] = tc.x0, tc.x5, tc.x7
		var s Scores
		m.Score(&x, &s)
		if want := sigmoid32(tc.margin); s.Proba != want {
			t.Errorf("%s: P = %v, want sigmoid(%v) = %v", tc.name, s.Proba, tc.margin, want)
		}
	}

	// DART: each tree scaled by its weight.
	dart := strings.Replace(handModel, `"gradient_booster":{"name":"gbtree","model":`, `"gradient_booster":{"name":"dart","weight_drop":[1,0.5],"gbtree":{"model":`, 1)
	dart = strings.Replace(dart, `"split_type":[0,0,0,0,0]}]}},`, `"split_type":[0,0,0,0,0]}]}}},`, 1)
	dm, err := Load(writeText(t, "dart.json", dart), features.SetALF)
	if err != nil {
		t.Fatal(err)
	}
	var x features.Vector
	x[0], x[5] = 0.4, 50
	if got, want := dm.Members[0].Proba(x[:]), sigmoid32(float32(-0.4)+float32(0.25)*0.5); got != want {
		t.Errorf("dart: P = %v, want %v", got, want)
	}

	// Two classes by softmax, with base score 0.5 on each margin.
	multi := strings.Replace(handModel, `"tree_info":[0,0]`, `"tree_info":[0,1]`, 1)
	multi = strings.Replace(multi, `"num_class":"0"`, `"num_class":"2"`, 1)
	multi = strings.Replace(multi, `"binary:logistic"`, `"multi:softprob"`, 1)
	mm, err := Load(writeText(t, "multi.json", multi), features.SetALF)
	if err != nil {
		t.Fatal(err)
	}
	m0, m1 := float64(float32(0.5)+float32(-0.4)), float64(float32(0.5)+float32(0.25))
	if got, want := mm.Members[0].Proba(x[:]), math.Exp(m1)*(1/(math.Exp(m0)+math.Exp(m1))); got != want {
		t.Errorf("softmax: P = %v, want %v", got, want)
	}
}

func TestBadModelFiles(t *testing.T) {
	good, err := os.ReadFile(writeForest(t, &Forest{
		Trees:     []Tree{{SplitFeature: []int{3}, Threshold: []float64{1}, DecisionType: []uint8{0}, LeftChild: []int{-1}, RightChild: []int{-2}, LeafValue: []float64{1, 2}}},
		NumClass:  1,
		Objective: "binary sigmoid:1", FeatureNames: features.Names[:],
	}, "good.txt"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(good)
	tooMany := strings.Replace(strings.Replace(text, "max_feature_idx=23", "max_feature_idx=29", 1),
		"feature_names="+strings.Join(features.Names[:], " "), "feature_names="+strings.Join(features.Names[:], " ")+" a b c d e f", 1)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "empty file"},
		{"truncated", text[:len(text)/2], "LightGBM text"},
		{"corrupt number", strings.Replace(text, "leaf_value=1 2", "leaf_value=1 x", 1), "LightGBM text"},
		{"garbage", "\x00\x01\x02garbage", "not LightGBM text or JSON"},
		{"bad JSON", `{"learner": [}`, "JSON"},
		{"JSON of something else", `{"hello": 1}`, "neither an XGBoost nor a LightGBM model"},
		{"more features than alfd computes", tooMany, "reads 30 features, alfd computes 24"},
		{"other feature names", strings.Replace(text, "bytes_ration", "bytes_ratio", 1), `feature 5 is "bytes_ratio" in the model, but alfd computes "bytes_ration"`},
		{"XGBoost regression", strings.Replace(handModel, "binary:logistic", "reg:squarederror", 1), `objective "reg:squarederror" is not a classifier`},
		{"XGBoost child out of range", strings.Replace(handModel, `"right_children":[2,-1,-1]`, `"right_children":[9,-1,-1]`, 1), "child 9 out of range"},
		{"XGBoost cycle", strings.Replace(handModel, `"left_children":[1,-1,-1]`, `"left_children":[0,-1,-1]`, 1), "reached twice"},
		// Counts no file of their size could hold: leaves would allocate them.
		{"LightGBM text, a billion leaves", strings.Replace(text, "\nnum_leaves=", "\nnum_leaves=+1000000000\nx=", 1), "num_leaves of 1000000000, more than"},
		{"LightGBM JSON, a billion leaves", strings.Replace(lightgbmJSON, `"num_leaves":2`, `"num_leaves":1e9`, 1), "num_leaves of 1000000000, more than"},
		{"LightGBM JSON, a billion leaves in a key of other case", strings.Replace(lightgbmJSON, `"num_leaves":2`, `"Num_Leaves":1e9`, 1), "Num_Leaves of 1000000000, more than"},
		{"LightGBM JSON, category 2^40", strings.Replace(lightgbmJSON, `"threshold":10,"decision_type":"<="`, `"threshold":"1||1099511627776","decision_type":"=="`, 1), "category 1099511627776"},
		// Found by FuzzLoadEnsemble: children that lead back up the tree.
		{"LightGBM cycle", "tree\nversion=v2\nnum_class=1\nnum_tree_per_iteration=1\n0\nmax_feature_idx=0\nobjective=binary sigmoid:1\n0\ntree_sizes= 0\n\nnum_leaves=7\nnum_cat=0\nsplit_feature=0 0 0 0\n0\nthreshold=0 0 0 0\ndecision_type=0 0 0 0\nleft_child=1 1 1 -1\nright_child=1 2 3 -1\nleaf_value=0\n0\n0\n\n\n0\nnum_leaves=1\nnum_cat=0\n6\n0\n0\ndecision_type=0\nleft_child=2 \nright_child=4 \nleaf_value=0", "reached twice from the root"},
	} {
		path := writeText(t, "model", tc.text)
		_, err := Load(path, features.SetALF)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want an error naming the file and %q", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none"), features.SetALF); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestMetadataAndFeatureSets(t *testing.T) {
	dir := t.TempDir()
	f := &Forest{
		Trees:     []Tree{{SplitFeature: []int{3}, Threshold: []float64{1}, DecisionType: []uint8{0}, LeftChild: []int{-1}, RightChild: []int{-2}, LeafValue: []float64{0.2, 0.9}}},
		NumClass:  1,
		Objective: "regression", AverageOutput: true, FeatureNames: features.Names[:],
	}
	for _, name := range []string{"m.0.txt", "m.1.txt"} {
		out, _ := os.Create(filepath.Join(dir, name))
		f.WriteLightGBM(out)
		out.Close()
	}
	os.WriteFile(filepath.Join(dir, "m.json"), []byte(`{"format":"alfd-model/1","version":7,"kind":"committee","feature_set":"fixed","members":["m.0.txt","m.1.txt"]}`), 0o644)
	m, err := Load(filepath.Join(dir, "m.json"), features.SetFixed)
	if err != nil {
		t.Fatal(err)
	}
	var x features.Vector
	x[3] = 5 // right: 0.9
	var s Scores
	m.Score(&x, &s)
	if m.Version != 7 || m.Kind != KindCommittee || s.NMembers != 2 || s.Members[1] != 0.9 || s.Proba != 0.9 {
		t.Errorf("committee: version %d kind %s scores %+v", m.Version, m.Kind, s)
	}
	if _, err := Load(filepath.Join(dir, "m.json"), features.SetALF); err == nil || !strings.Contains(err.Error(), "trained on feature set fixed, but alfd computes alf") {
		t.Errorf("feature set mismatch: %v", err)
	}
	// A bare file from elsewhere is taken as ALF's; with a sidecar, as it says.
	bare := filepath.Join(dir, "m.0.txt")
	if m, err := Load(bare, features.SetALF); err != nil || len(m.Warnings) == 0 {
		t.Errorf("bare model: %v, warnings %v", err, m.Warnings)
	}
	if _, err := Load(bare, features.SetFixed); err == nil {
		t.Error("a bare model was taken for the fixed feature set")
	}
	os.WriteFile(bare+".meta.json", []byte(`{"format":"alfd-model/1","version":3,"kind":"single","feature_set":"fixed"}`), 0o644)
	if m, err := Load(bare, features.SetFixed); err != nil || m.Version != 3 {
		t.Errorf("model with a sidecar: %v", err)
	}
}

// lightgbmJSON is a LightGBM JSON dump written by hand: one tree splitting
// feature 3 at 10 (<= goes left to -1, else 2), NaN counted missing and
// sent left, binary log loss.
const lightgbmJSON = `{"name":"tree","version":"v2","num_class":1,"num_tree_per_iteration":1,"label_index":0,
 "max_feature_idx":23,"objective":"binary sigmoid:1","feature_names":["bytes_rev","bytes","packets","packets_rev",
 "packets_sum","bytes_ration","num_pkts_ration","time","av_pkt_size","av_pkt_size_rev","var_pkt_size",
 "var_pkt_size_rev","median_pkt_size","median_pkt_size_rev","mindelay","avgdelay","maxdelay","bursts","fizzles",
 "time_leap_ration","autocorr","stSum","ndSum","rdSum"],
 "tree_info":[{"tree_index":0,"num_leaves":2,"num_cat":0,"shrinkage":1,"tree_structure":{
  "split_index":0,"split_feature":3,"split_gain":1,"threshold":10,"decision_type":"<=","default_left":true,
  "missing_type":"NaN","internal_value":0,"internal_count":2,
  "left_child":{"leaf_index":0,"leaf_value":-1,"leaf_count":1},
  "right_child":{"leaf_index":1,"leaf_value":2,"leaf_count":1}}}]}`

func TestLightGBMJSONByHand(t *testing.T) {
	m, err := Load(writeText(t, "lgb.json", lightgbmJSON), features.SetALF)
	if err != nil {
		t.Fatal(err)
	}
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	for _, tc := range []struct {
		x3, want float64
	}{
		{10, sigmoid(-1)}, // LightGBM's <=: the threshold goes left
		{10.5, sigmoid(2)},
		{math.NaN(), sigmoid(-1)}, // missing, sent left
		{-3, sigmoid(-1)},
	} {
		var x features.Vector
		x[3] = tc.x3
		if got := m.Members[0].Proba(x[:]); got != tc.want {
			t.Errorf("x3 = %v: P = %v, want %v", tc.x3, got, tc.want)
		}
	}
}

// xgNode is a node of XGBoost's old binary format.
type xgNode struct {
	left, right int32 // -1 for a leaf
	feature     uint32
	defaultLeft bool
	value       float32 // threshold, or a leaf's value
}

// xgboostBinary writes trees in XGBoost's old binary format, field by
// field as its learner, gbtree and tree parameters lay them out, with base
// score base (a margin, as leaves reads it) over 24 features.
func xgboostBinary(base float32, trees ...[]xgNode) []byte {
	le := binary.LittleEndian
	var b []byte
	str := func(s string) { b = le.AppendUint64(b, uint64(len(s))); b = append(b, s...) }
	b = le.AppendUint32(b, math.Float32bits(base))
	b = le.AppendUint32(b, 24)                 // features
	b = append(b, make([]byte, 4+4+4+29*4)...) // classes, extra attributes, metrics, reserved
	str("binary:logistic")
	str("gbtree")
	b = le.AppendUint32(b, uint32(len(trees))) // trees
	b = le.AppendUint32(b, 1)                  // roots
	b = le.AppendUint32(b, 24)                 // features
	b = le.AppendUint32(b, 0)                  // padding
	b = le.AppendUint64(b, 0)                  // deprecated buffer
	b = le.AppendUint32(b, 1)                  // output groups
	b = le.AppendUint32(b, 0)                  // leaf vector
	b = append(b, make([]byte, 32*4)...)
	for _, t := range trees {
		b = le.AppendUint32(b, 1) // roots
		b = le.AppendUint32(b, uint32(len(t)))
		b = append(b, make([]byte, 4+4)...) // deleted, depth
		b = le.AppendUint32(b, 24)
		b = append(b, make([]byte, 4+31*4)...) // leaf vector, reserved
		for _, n := range t {
			index := n.feature
			if n.defaultLeft {
				index |= 1 << 31
			}
			b = le.AppendUint32(b, math.MaxUint32) // parent: unread
			b = le.AppendUint32(b, uint32(n.left))
			b = le.AppendUint32(b, uint32(n.right))
			b = le.AppendUint32(b, index)
			b = le.AppendUint32(b, math.Float32bits(n.value))
		}
		b = append(b, make([]byte, 16*len(t))...) // node statistics
	}
	return append(b, make([]byte, 4*len(trees))...) // tree info: all group 0
}

// TestXGBoostBinaryByHand loads handModel's two trees written in XGBoost's
// binary format (through leaves) and gets the predictions worked out by
// hand: XGBoost's splits, as for the JSON model (a value on a threshold
// goes right, where leaves would send it left), with leaves' float64
// sigmoid; then refuses a file cut short, counts the file cannot hold, and
// children that lead back up.
func TestXGBoostBinaryByHand(t *testing.T) {
	trees := [][]xgNode{
		{{1, 2, 0, true, 0.5}, {-1, -1, 0, false, -0.4}, {-1, -1, 0, false, 0.3}},
		{{1, 2, 5, false, 100}, {-1, -1, 0, false, 0.25}, {3, 4, 7, true, 0.1}, {-1, -1, 0, false, -0.125}, {-1, -1, 0, false, 0.5}},
	}
	good := xgboostBinary(0, trees...)
	m, err := Load(writeText(t, "xgb.bin", string(good)), features.SetALF)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	leaf := func(v float32) float64 { return float64(v) }
	for _, tc := range []struct {
		name       string
		x0, x5, x7 float64
		margin     float64
	}{
		{"both trees left", 0.4, 50, 0, 0 + leaf(-0.4) + leaf(0.25)},
		{"values on the thresholds", 0.5, 100, 0.1, 0 + leaf(0.3) + leaf(0.5)},
		{"NaN the default ways", nan, nan, nan, 0 + leaf(-0.4) + leaf(-0.125)},
		{"x7 past its threshold", -1, 1e9, 7, 0 + leaf(-0.4) + leaf(0.5)},
	} {
		var x features.Vector
		x[0], x[5], x[7] = tc.x0, tc.x5, tc.x7
		var s Scores
		m.Score(&x, &s)
		if want := 1 / (1 + math.Exp(-tc.margin)); s.Proba != want {
			t.Errorf("%s: P = %v, want sigmoid(%v) = %v", tc.name, s.Proba, tc.margin, want)
		}
	}
	cycle := [][]xgNode{{{1, 2, 0, true, 0.5}, {0, 2, 0, false, -0.4}, {-1, -1, 0, false, 0.3}}}
	huge := xgboostBinary(0, trees...)
	binary.LittleEndian.PutUint32(huge[136+8+len("binary:logistic")+8+len("gbtree")+160+4:], 1<<30) // tree 0's nodes
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"cut short", good[:len(good)-2], "cut short"},
		{"a billion nodes", huge, "number of nodes of 1073741824, more than"},
		{"a cycle", xgboostBinary(0, cycle...), "reached twice from the root"},
	} {
		if _, err := Load(writeText(t, "bad.bin", string(tc.data)), features.SetALF); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestEnsembleShape: the hand model's trees, leaves, depth and splits per
// feature, as drawn above handModel.
func TestEnsembleShape(t *testing.T) {
	m, err := Load(writeText(t, "xgb.json", handModel), features.SetALF)
	if err != nil {
		t.Fatal(err)
	}
	e := m.Members[0]
	want := make([]int, e.NFeatures())
	want[0], want[5], want[7] = 1, 1, 1
	if got := e.Splits(); e.NTrees() != 2 || e.NLeaves() != 5 || e.Depth() != 2 || !slices.Equal(got, want) {
		t.Errorf("%d trees, %d leaves, depth %d, splits %v; want 2, 5, 2, %v", e.NTrees(), e.NLeaves(), e.Depth(), got, want)
	}
}
