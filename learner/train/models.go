package train

import (
	"context"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
)

// ALF's models: three random forests of 100 trees each, scikit-learn's
// defaults, the third splitting by entropy.
func alfForests(ctx context.Context, x []features.Vector, y []bool, seed uint64) ([]*infer.Forest, error) {
	d := binData(x, y)
	var out []*infer.Forest
	for _, cfg := range []ForestConfig{{Seed: seed}, {Seed: seed + 1}, {Seed: seed + 2, Criterion: Entropy}} {
		f, err := randomForest(ctx, d, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Single is ALF's "single" model: the soft vote of its three forests, as
// one forest averaging all their trees (equal tree counts make the mean of
// the trees the mean of the forests).
func Single(ctx context.Context, x []features.Vector, y []bool, seed uint64) (*infer.Forest, error) {
	fs, err := alfForests(ctx, x, y, seed)
	if err != nil {
		return nil, err
	}
	all := *fs[0]
	all.Trees = make([]infer.Tree, 0, 3*len(fs[0].Trees))
	for _, f := range fs {
		all.Trees = append(all.Trees, f.Trees...)
	}
	return &all, nil
}

// Committee is ALF's "committee" model: the same three forests, kept apart
// so that each member's vote can be asked.
func Committee(ctx context.Context, x []features.Vector, y []bool, seed uint64) ([]*infer.Forest, error) {
	return alfForests(ctx, x, y, seed)
}
