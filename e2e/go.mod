module github.com/cofferhq/coffer/e2e

go 1.26.8

require (
	github.com/cofferhq/coffer/pkg v0.0.0
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/google/uuid v1.6.0 // indirect
)

replace github.com/cofferhq/coffer/pkg => ../pkg
