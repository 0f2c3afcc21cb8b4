//go:build !amd64 || purego

package features

// sortSmall sorts a[:n] ascending.
func sortSmall(a *[sortCap]float64, n int) { insertionSort(a[:n]) }
