module github.com/cofferhq/coffer/pkg/client

go 1.26.8
