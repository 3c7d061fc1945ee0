package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// dashboardFiles is the marketers' dashboard: a static page, its script
// and style, and Apache ECharts, all in the binary (no CDN, works
// offline). The page holds no data: it reads the API with the token the
// user signs in with, so the API's token check guards the figures.
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardPolicy lets the page run only its own scripts and talk only to
// its own origin: injected markup could not run or send anything.
const dashboardPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func (s *Server) dashboard() http.Handler {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil { // the embedded folder exists: it is compiled in
		panic(err)
	}
	files := http.StripPrefix("/dashboard/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", dashboardPolicy)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "/" {
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		if strings.HasSuffix(r.URL.Path, "/") { // no folder listings
			writeError(w, http.StatusNotFound, "no such file")
			return
		}
		files.ServeHTTP(w, r)
	})
}
