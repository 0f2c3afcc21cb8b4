// Package infer classifies flows with tree ensembles: it loads LightGBM,
// XGBoost and leaves models, compiles them into a flat form that predicts
// exactly what leaves predicts, only faster, and holds the model in use
// behind an atomic pointer so that a new one can be swapped in while
// classifiers run.
//
// Load reads a model file (or alfd's metadata naming several) and checks
// that it was trained on the features alfd computes. Model.Score gives, for
// one feature vector, the probability of DoH and the scores the query
// strategies rank by; Model.ScoreBatch does the same for many flows, tree by
// tree, eight flows walking a tree side by side (in assembly on amd64; the
// purego build tag selects the Go walk, which the tests hold it to). Where
// the processor has AVX-512 and a gradient-boosted model's trees have at
// most 32 leaves (LightGBM's default is 31), ScoreBatch uses QuickScorer's
// form instead (quick.go), which streams through the splits feature by
// feature and does not wait on deep trees; it too is held to the walk.
// Forest.WriteLightGBM writes models in LightGBM's text format.
//
// Two departures from leaves: XGBoost's splits (value < threshold, in
// float32) are followed in every format, where leaves' reader of XGBoost's
// binary format sends a value equal to the threshold the other way; and a
// corrupt file is refused before leaves reads it when its counts are more
// than the file can hold or its trees lead back on themselves, which would
// otherwise exhaust memory or never end.
package infer
