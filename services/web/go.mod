module github.com/cofferhq/coffer/services/web

go 1.26.8

require github.com/cofferhq/coffer/pkg v0.0.0

replace github.com/cofferhq/coffer/pkg => ../../pkg
