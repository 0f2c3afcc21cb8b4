package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/alfd/alfd/classify"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/learner/dataset"
	"github.com/alfd/alfd/learner/evaluate"
	"github.com/alfd/alfd/trap"
)

func runTrain(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "train", "--dpath D0.csv -o MODEL [options]")
	dpath := fs.String("dpath", "", "training set: a CSV in ALF's format (class and the 24 features), such as D_0")
	kind := fs.String("model", "single", "single (ALF's soft vote of 3 random forests), committee (the same 3 apart) or gbdt (gradient-boosted trees)")
	out := fs.String("o", "", "where to write the model: MODEL.json (metadata and member files MODEL.K.txt) or, for single and gbdt, a LightGBM text file (with MODEL.meta.json)")
	setp := setFlag(fs, "the feature set the CSV holds: alf or fixed (recorded in the model)")
	seed := fs.Uint64("seed", 1, "random seed")
	log, err := parseLogged(e, fs, args, nil)
	if err != nil {
		return err
	}
	switch {
	case *dpath == "":
		return errors.New("train: --dpath is required")
	case *out == "":
		return errors.New("train: -o is required")
	}
	set := *setp
	d, err := dataset.ReadFile(*dpath)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if doh, other := d.Counts(); doh == 0 || other == 0 {
		return fmt.Errorf("train: %s has %d DoH and %d other rows; both classes are needed", *dpath, doh, other)
	}
	k := infer.KindSingle
	if *kind == "committee" {
		k = infer.KindCommittee
	}
	forests, err := learner.TrainModel(ctx, *kind, d, *seed)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if base, isMeta := strings.CutSuffix(*out, ".json"); isMeta {
		if _, err := learner.WriteModelFiles(base, 1, k, set, forests, d.Len()); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	} else {
		if len(forests) > 1 {
			return errors.New("train: a committee is several files: name its metadata MODEL.json")
		}
		if err := learner.WriteModelFile(*out, 1, set, forests[0], d.Len()); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	log.Info("model trained", "model", *kind, "rows", d.Len(), "out", *out)
	return nil
}

// evalResult is what alfd eval prints.
type evalResult struct {
	Model   string `json:"model"`
	Version uint32 `json:"model_version"`
	Input   string `json:"input"`
	Records int    `json:"records"`
	Flows   int    `json:"flows"` // labelled, and counted in Metrics
	// Unlabelled are flows classified that no list knew.
	Unlabelled int                `json:"unlabelled"`
	DoH        int                `json:"doh"`
	Confusion  evaluate.Confusion `json:"confusion"` // DoH positive
	Metrics    evaluate.Metrics   `json:"metrics"`
}

func runEval(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "eval", "--model MODEL -i IFC --blacklist FILE")
	modelPath := fs.String("model", "", "the model: alfd's metadata JSON, or a LightGBM or XGBoost file")
	ifc := fs.String("i", "", "input interface (IFC_SPEC) of the flows to evaluate on")
	var lists oracleFlags
	lists.register(fs, "the truth: a blacklist of DoH resolvers (flows no list knows are not counted)")
	setp := setFlag(fs, "feature set: alf or fixed")
	batch := fs.Int("batch", alfBatchRecords, "records per batch on a socket input, as ALF reads them")
	log, err := parseLogged(e, fs, args, nil)
	if err != nil {
		return err
	}
	switch {
	case *modelPath == "":
		return errors.New("eval: --model is required")
	case !lists.given():
		return errors.New("eval: --blacklist is required (or --domains, --labels)")
	}
	set := *setp
	m, err := infer.Load(*modelPath, set)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	for _, w := range m.Warnings {
		log.Warn(w, "model", *modelPath)
	}
	oracle, _, err := lists.load(log)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if *batch <= 0 {
		return errors.New("eval: --batch must be positive")
	}
	specs, err := parseIfcs("eval", "-i", *ifc, 1, 0)
	if err != nil {
		return err
	}
	in, err := trap.OpenInput(specs[0], trap.InputConfig{})
	if err != nil {
		return err
	}
	defer in.Close()
	var slot infer.Slot
	slot.Store(m)
	var c evaluate.Confusion
	var proba []float64
	var truth []bool
	p := classify.New(classify.Config{Set: set, Slot: &slot, Oracle: oracle, GenerationFlows: uint64(*batch), Log: log,
		OnGeneration: func(s learner.GenerationStats) { c.Merge(s.All) },
		OnLabelled: func(p float64, doh bool) {
			proba, truth = append(proba, p), append(truth, doh)
		}})
	if err := p.Run(ctx, classify.TrapSource{R: in}); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	st := p.Stats()
	if bad := st.BadInput.Load(); bad > 0 {
		return fmt.Errorf("eval: %d broken containers or records skipped", bad)
	}
	res := evalResult{Model: *modelPath, Version: m.Version, Input: *ifc,
		Records: int(st.Records.Load()), Flows: c.N(), Unlabelled: int(st.Classified.Load() - st.Labelled.Load()), DoH: c.TP + c.FN, Confusion: c}
	res.Metrics = c.Metrics(float64(res.DoH) / float64(max(res.Flows, 1)))
	res.Metrics.Rank(proba, truth)
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
