// Package assets holds the built single-page app (services/web/ui, built by `make web` into
// dist/ and committed), so the web binary builds from a clean clone without Node.
package assets

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// FS returns the built app, rooted at its index.html.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // only if the embed directive above changes
		panic(err)
	}
	return sub
}
