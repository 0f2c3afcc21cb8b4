// Package bench holds the benchmarks of the whole system and the tool that
// puts every stage's figure beside its baseline in one table (make bench,
// bench/table). The benchmarks of single stages sit beside their code, in
// their packages; here are those that cross them: from packets or UniRec
// records in memory to classified flows, with one or two meters, and live
// capture over a veth pair against the sending rate.
package bench
