package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
)

// modelSummary is what alfd model tells of a model.
type modelSummary struct {
	Path         string             `json:"path"`
	Version      uint32             `json:"version"`
	Kind         infer.Kind         `json:"kind"`
	FeatureSet   string             `json:"feature_set"`
	TrainingRows int                `json:"training_rows,omitempty"`
	Created      time.Time          `json:"created,omitzero"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
	Members      []memberSummary    `json:"members"`
	// Features are ordered by how often the trees split on them, most
	// first: LightGBM's "split" importance, summed over the members.
	Features []featureSplits `json:"features"`
	Warnings []string        `json:"warnings,omitempty"`
}

type memberSummary struct {
	Name   string `json:"name"`
	Trees  int    `json:"trees"`
	Leaves int    `json:"leaves"`
	Depth  int    `json:"depth"`
}

type featureSplits struct {
	Name   string  `json:"name"`
	Splits int     `json:"splits"`
	Share  float64 `json:"share"`
}

func summarizeModel(m *infer.Model) modelSummary {
	s := modelSummary{Path: m.Path, Version: m.Version, Kind: m.Kind, FeatureSet: m.FeatureSet.String(),
		TrainingRows: m.Meta.TrainingRows, Created: m.Meta.Created, Metrics: m.Meta.Metrics, Warnings: m.Warnings}
	splits := make([]int, features.N)
	total := 0
	for _, e := range m.Members {
		s.Members = append(s.Members, memberSummary{Name: e.Name(), Trees: e.NTrees(), Leaves: e.NLeaves(), Depth: e.Depth()})
		for i, n := range e.Splits() {
			splits[i] += n
			total += n
		}
	}
	for i, n := range splits {
		s.Features = append(s.Features, featureSplits{Name: features.Names[i], Splits: n, Share: float64(n) / float64(max(total, 1))})
	}
	slices.SortStableFunc(s.Features, func(a, b featureSplits) int { return cmp.Compare(b.Splits, a.Splits) })
	return s
}

func runModel(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "model", "MODEL [options]")
	format := fs.String("format", "text", "output format: text, or json")
	setp := setFlag(fs, "the feature set alfd would compute for the model: alf or fixed")
	paths, err := parseWithArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(paths) != 1:
		return errors.New("model: give one model file: alfd's metadata JSON, or a LightGBM or XGBoost file")
	case *format != "text" && *format != "json":
		return fmt.Errorf("model: --format %q: want text or json", *format)
	}
	m, err := infer.Load(paths[0], *setp)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	s := summarizeModel(m)
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	printModel(e.stdout, s)
	return nil
}

// printModel prints a summary for a person.
func printModel(w io.Writer, s modelSummary) {
	fmt.Fprintf(w, "model        %s\n", s.Path)
	fmt.Fprintf(w, "version      %d\nkind         %s\nfeature set  %s\n", s.Version, s.Kind, s.FeatureSet)
	if s.TrainingRows > 0 {
		fmt.Fprintf(w, "trained on   %d rows\n", s.TrainingRows)
	}
	if !s.Created.IsZero() {
		fmt.Fprintf(w, "created      %s\n", s.Created.Format(time.RFC3339))
	}
	if len(s.Metrics) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.Metrics)) {
			parts = append(parts, fmt.Sprintf("%s %.4f", k, s.Metrics[k]))
		}
		fmt.Fprintf(w, "metrics      %s (on D_i's held-out rows when trained)\n", strings.Join(parts, ", "))
	}
	for i, m := range s.Members {
		fmt.Fprintf(w, "member %d     %s: %d trees, %d leaves, depth %d\n", i+1, m.Name, m.Trees, m.Leaves, m.Depth)
	}
	for _, warning := range s.Warnings {
		fmt.Fprintf(w, "warning      %s\n", warning)
	}
	fmt.Fprintf(w, "\n%-20s %7s %7s\n", "feature", "splits", "share")
	for _, f := range s.Features {
		fmt.Fprintf(w, "%-20s %7d %6.1f%%\n", f.Name, f.Splits, 100*f.Share)
	}
}
