// Package train grows the tree ensembles alfd classifies with, in Go:
// random forests as scikit-learn grows them (bootstrap samples, √features
// per split, Gini or entropy) and gradient-boosted trees as LightGBM grows
// them (leaf-wise, from histograms). Both search splits over binned
// features, and both give their model as an infer.Forest, which writes
// itself in LightGBM's text format. Single and Committee build ALF's two
// models from three forests.
package train
