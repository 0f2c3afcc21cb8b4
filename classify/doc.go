// Package classify is alfd's fast path: from UniRec flow records to
// classified flows. A Pipeline reads the records of a TRAP input, computes
// their DoH features as ALF does, scores them in batches with the model in
// use (swapped in atomically by the learner, picked up at the next batch),
// and sends every flow with features on to an Output with DOH, DOH_PROBA
// and MODEL_VERSION added. On the way it labels flows with an oracle when
// asked to (ALF's dry run), offers the learner the flows its gate lets
// through, and ends generations by count, by time and at each stream's end.
// Several sources (the meters of a fanout group) can be classified side by
// side, a goroutine each, sharing the counters, the output and the
// generations.
//
// Per record it neither allocates nor takes a lock; the output, the
// generation, the learner's queue and the counters are touched once per
// batch or only for the flows the learner may want.
package classify
