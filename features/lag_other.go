//go:build !amd64 || purego

package features

func lagProducts(x []uint16, products *[10]int64) { lagProductsGo(x, products) }
