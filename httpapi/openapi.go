package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes every route of routes(); a test checks the two
// agree, so the document cannot drift from the router.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the document without a token: it describes the API and
// holds no data.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(openAPIDocument)
}
