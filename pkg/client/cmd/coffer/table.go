package main

import (
	"iter"
	"strings"
	"text/tabwriter"
)

// printList collects seq (stopping at its first error) and prints it: as JSON with --json, else
// as a table with header's columns and row's cells for each item.
func printList[T any](a *app, seq iter.Seq2[T, error], header []string, row func(T) []string) error {
	items := []T{}
	for it, err := range seq {
		if err != nil {
			return err
		}
		items = append(items, it)
	}
	if a.json {
		return a.printJSON(items)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fprintf(tw, "%s\n", strings.Join(header, "\t"))
	for _, it := range items {
		fprintf(tw, "%s\n", strings.Join(row(it), "\t"))
	}
	return tw.Flush()
}
