package infer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/dmitryikh/leaves"

	"github.com/alfd/alfd/features"
)

// MetaFormat marks alfd's model metadata files.
const MetaFormat = "alfd-model/1"

// Load reads a model: alfd's metadata file (JSON naming the member files,
// the feature set and the metrics), or one model file in any format alfd
// reads: LightGBM text (v2 to v4) or JSON, XGBoost JSON or its old binary
// format. A bare model file may have its metadata beside it as
// FILE.meta.json. want is the feature set alfd computes: a model trained on
// another set, reading more features than there are, or naming them
// differently is refused, with the file and the reason in the error.
func Load(path string, want features.Set) (*Model, error) {
	m, err := load(path, want)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

func load(path string, want features.Set) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Path: path, Kind: KindSingle}
	if meta, ok := parseMeta(data); ok {
		if err := m.fromMeta(meta, filepath.Dir(path)); err != nil {
			return nil, err
		}
	} else {
		e, names, err := loadEnsemble(data)
		if err != nil {
			return nil, err
		}
		m.Members = []*Ensemble{e}
		m.Meta.FeatureNames = names
		sidecar, err := os.ReadFile(path + ".meta.json")
		switch {
		case err == nil:
			meta, ok := parseMeta(sidecar)
			if !ok {
				return nil, fmt.Errorf("%s.meta.json is not alfd model metadata", filepath.Base(path))
			}
			m.Meta = meta
			m.Version = meta.Version
			if meta.FeatureNames == nil {
				m.Meta.FeatureNames = names
			}
		case errors.Is(err, os.ErrNotExist):
			// A model from elsewhere: ALF's features, as ALF's models use.
			m.Meta.FeatureSet = features.SetALF.String()
			m.Warnings = append(m.Warnings, "no metadata file: assuming the model was trained on ALF's features (feature set alf)")
			if want != features.SetALF {
				return nil, fmt.Errorf("no metadata says which feature set the model was trained on, and alfd computes %s", want)
			}
		default:
			return nil, err
		}
	}
	set, err := features.ParseSet(m.Meta.FeatureSet)
	if err != nil {
		return nil, err
	}
	if set != want {
		return nil, fmt.Errorf("trained on feature set %s, but alfd computes %s", set, want)
	}
	m.FeatureSet = set
	if err := checkFeatures(m); err != nil {
		return nil, err
	}
	return m, nil
}

func parseMeta(data []byte) (Meta, bool) {
	var meta Meta
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) && json.Unmarshal(data, &meta) == nil && meta.Format == MetaFormat {
		return meta, true
	}
	return meta, false
}

func (m *Model) fromMeta(meta Meta, dir string) error {
	m.Meta, m.Version = meta, meta.Version
	switch meta.Kind {
	case KindSingle, KindCommittee:
		m.Kind = meta.Kind
	default:
		return fmt.Errorf("unknown model kind %q", meta.Kind)
	}
	if len(meta.Members) == 0 || len(meta.Members) > MaxMembers {
		return fmt.Errorf("%d member files (want 1 to %d)", len(meta.Members), MaxMembers)
	}
	for _, name := range meta.Members {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("member: %w", err)
		}
		e, names, err := loadEnsemble(data)
		if err != nil {
			return fmt.Errorf("member %s: %w", name, err)
		}
		if m.Meta.FeatureNames == nil {
			m.Meta.FeatureNames = names
		}
		m.Members = append(m.Members, e)
	}
	return nil
}

// defaultName matches the names tools give unnamed features.
var defaultName = regexp.MustCompile(`^(Column_|f)\d+$`)

func checkFeatures(m *Model) error {
	for i, e := range m.Members {
		if e.NFeatures() > features.N {
			return fmt.Errorf("member %d reads %d features, alfd computes %d", i, e.NFeatures(), features.N)
		}
		if e.NClasses() != 2 {
			return fmt.Errorf("member %d has %d classes; alfd classifies DoH or not", i, e.NClasses())
		}
	}
	names := m.Meta.FeatureNames
	if len(names) == 0 || slices.IndexFunc(names, func(n string) bool { return !defaultName.MatchString(n) }) < 0 {
		m.Warnings = append(m.Warnings, "the model does not name its features: assuming ALF's order")
		return nil
	}
	if len(names) > features.N {
		return fmt.Errorf("the model names %d features, alfd computes %d", len(names), features.N)
	}
	for i, n := range names {
		if n != features.Names[i] {
			return fmt.Errorf("feature %d is %q in the model, but alfd computes %q there", i, n, features.Names[i])
		}
	}
	return nil
}

// loadEnsemble compiles one model file, whatever its format, and returns
// the feature names it carries.
func loadEnsemble(data []byte) (e *Ensemble, names []string, err error) {
	// A corrupt file must not take the process down with it.
	defer func() {
		if p := recover(); p != nil {
			e, names, err = nil, nil, fmt.Errorf("corrupt model: %v", p)
		}
	}()
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, nil, errors.New("empty file")
	case bytes.HasPrefix(trimmed, []byte("tree")):
		if err := checkLightGBMText(data); err != nil {
			return nil, nil, fmt.Errorf("LightGBM text: %w", err)
		}
		return loadLightGBMText(data)
	case trimmed[0] == '{':
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &probe); err != nil {
			return nil, nil, fmt.Errorf("JSON: %w", err)
		}
		if _, ok := probe["learner"]; ok {
			return readXGBoostJSON(bytes.NewReader(trimmed))
		}
		if _, ok := probe["tree_info"]; ok {
			if err := checkLightGBMJSON(trimmed); err != nil {
				return nil, nil, err
			}
			// leaves loads LightGBM JSON only raw.
			lv, err := leaves.LGEnsembleFromJSON(bytes.NewReader(trimmed), false)
			if err != nil {
				return nil, nil, fmt.Errorf("LightGBM JSON: %w", err)
			}
			ens, err := compileLeaves(lv)
			if err != nil {
				return nil, nil, fmt.Errorf("LightGBM JSON: %w", err)
			}
			var header struct {
				FeatureNames []string `json:"feature_names"`
				Objective    string   `json:"objective"`
			}
			json.Unmarshal(trimmed, &header)
			// leaves reads no objective from JSON: the raw score it gives
			// is log-odds for a binary model, one per class for multiclass.
			switch {
			case strings.HasPrefix(header.Objective, "binary"):
				ens.output = outSigmoid
			case strings.HasPrefix(header.Objective, "multiclass"):
				ens.output = outSoftmax
			}
			return ens, header.FeatureNames, nil
		}
		return nil, nil, errors.New("JSON that is neither an XGBoost nor a LightGBM model")
	}
	if err := checkXGBoostBinary(data); err != nil {
		return nil, nil, fmt.Errorf("not LightGBM text or JSON, and as XGBoost's binary format: %w", err)
	}
	ens, err := leavesLoad(func(transform bool) (*leaves.Ensemble, error) {
		return leaves.XGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), transform)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("not LightGBM text or JSON, and as XGBoost's binary format: %w", err)
	}
	return ens, nil, nil
}

// leavesLoad loads with leaves and compiles. It asks leaves for the
// output transformation first; a model whose objective leaves does not know
// is taken as one whose raw score is the probability.
func leavesLoad(load func(transform bool) (*leaves.Ensemble, error)) (*Ensemble, error) {
	ens, err := load(true)
	if err != nil && strings.Contains(err.Error(), "unknown transformation") {
		ens, err = load(false)
	}
	if err != nil {
		return nil, err
	}
	return compileLeaves(ens)
}

// loadLightGBMText loads LightGBM's text format. LightGBM 4 writes
// version=v4, which leaves refuses; the trees are the same, unless linear.
func loadLightGBMText(data []byte) (*Ensemble, []string, error) {
	header, _, _ := bytes.Cut(data, []byte("\n\n"))
	var names []string
	for _, line := range strings.Split(string(header), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "feature_names="); ok {
			names = strings.Fields(v)
		}
	}
	if bytes.Contains(header, []byte("version=v4")) {
		if bytes.Contains(data, []byte("\nis_linear=1")) {
			return nil, nil, errors.New("LightGBM linear trees (linear_tree=true) are not supported")
		}
		data = bytes.Replace(data, []byte("version=v4"), []byte("version=v3"), 1)
	}
	e, err := leavesLoad(func(transform bool) (*leaves.Ensemble, error) {
		return leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), transform)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("LightGBM text: %w", err)
	}
	return e, names, nil
}
