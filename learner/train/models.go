package train

import (
	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
)

// ALF's models: three random forests of 100 trees each, scikit-learn's
// defaults, the third splitting by entropy.
func alfForests(x []features.Vector, y []bool, seed uint64) []*infer.Forest {
	d := binData(x, y)
	return []*infer.Forest{
		randomForest(d, ForestConfig{Seed: seed}),
		randomForest(d, ForestConfig{Seed: seed + 1}),
		randomForest(d, ForestConfig{Seed: seed + 2, Criterion: Entropy}),
	}
}

// Single is ALF's "single" model: the soft vote of its three forests, as
// one forest averaging all their trees (equal tree counts make the mean of
// the trees the mean of the forests).
func Single(x []features.Vector, y []bool, seed uint64) *infer.Forest {
	fs := alfForests(x, y, seed)
	all := *fs[0]
	all.Trees = make([]infer.Tree, 0, 3*len(fs[0].Trees))
	for _, f := range fs {
		all.Trees = append(all.Trees, f.Trees...)
	}
	return &all
}

// Committee is ALF's "committee" model: the same three forests, kept apart
// so that each member's vote can be asked.
func Committee(x []features.Vector, y []bool, seed uint64) []*infer.Forest {
	return alfForests(x, y, seed)
}
