package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// The web console: a single-page application served at "/" (index.html)
// and "/console/{file}" (its scripts, style sheet and icon), embedded in
// the binary. It holds no data: it reads and writes through the /v1 API
// like any other client, so the assets are served without the token
// (the page asks for it when the API answers 401) while the Host rule of
// guard still applies.

//go:embed console
var consoleFS embed.FS

// consoleCSP is the Content-Security-Policy of every console file: scripts,
// styles, images and fetches from the API's own origin only, no inline
// script or style, no framing, no form posted anywhere.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleTypes are the content types of the console's files, by extension.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// consoleAsset is one embedded file, ready to serve.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// loadConsole reads the embedded files into a table keyed by their name
// under console/ ("index.html", "app.js").
func loadConsole() (map[string]consoleAsset, error) {
	assets := map[string]consoleAsset{}
	err := fs.WalkDir(consoleFS, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := consoleTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("admin: console file %s has no known content type", p)
		}
		body, err := consoleFS.ReadFile(p)
		if err != nil {
			return fmt.Errorf("admin: console file %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		assets[strings.TrimPrefix(p, "console/")] = consoleAsset{
			body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := assets["index.html"]; !ok {
		return nil, fmt.Errorf("admin: the console has no index.html")
	}
	return assets, nil
}

// isConsolePath reports whether a GET or HEAD of path reads a console file,
// which needs no token.
func isConsolePath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/console/")
}

// serveConsole answers GET / (the page) and GET /console/{file}: the file
// with its content type, the CSP, and an ETag the browser revalidates
// with (Cache-Control: no-cache), so a new binary's console is picked up
// at the next load and an unchanged one costs a 304.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) error {
	name := "index.html"
	if r.URL.Path != "/" {
		name = strings.TrimPrefix(r.URL.Path, "/console/")
	}
	a, ok := s.console[name]
	if !ok || name == "index.html" && r.URL.Path != "/" {
		return errorf(http.StatusNotFound, "no such console file: %s", r.URL.Path)
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	return nil
}
